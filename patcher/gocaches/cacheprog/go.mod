module argo-patcher.invalid/cacheprog

go 1.21
