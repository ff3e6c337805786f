// Command nodeimage is the one program of the node's own small images (argo-patcher's
// --cluster=node): run as "pause" it is the pod sandbox's process (it waits for a signal and
// reaps orphans, as Kubernetes' pause does); run as anything else it is the main container of
// the contract's workflows: it prints its arguments and exits 0, except
// "fail-first <retries>", which exits 1 when retries is "0" (a step that succeeds on its retry).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	if filepath.Base(os.Args[0]) == "pause" {
		pause()
		return
	}
	args := os.Args[1:]
	fmt.Println(strings.Join(append([]string{"argo-patcher node main container:"}, args...), " "))
	if len(args) == 2 && args[0] == "fail-first" && args[1] == "0" {
		fmt.Println("the first attempt fails, so that it is retried")
		os.Exit(1)
	}
}

func pause() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
