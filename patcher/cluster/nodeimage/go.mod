module argo-patcher.invalid/nodeimage

go 1.21
