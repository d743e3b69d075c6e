// Command pause is the sandbox ("pause") container of Roster's real-node test bed, and the first
// process of each node's namespaces. It does nothing but reap the children handed to it and
// wait for SIGTERM or SIGINT. Built static (CGO_ENABLED=0), so its image needs no libraries.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child, so orphans re-parented to this process leave no zombies.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
