package hang

import ("testing"; "time")

func TestQuick(t *testing.T) {}
func TestHang(t *testing.T) { time.Sleep(time.Hour) }
