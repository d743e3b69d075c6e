// Command controlplane runs the upstream Kubernetes control-plane components that Roster's
// tests and `make dev` start on loopback, and the node components of the real-node test bed. It is one multi-call binary so the large shared
// dependency graph is compiled and linked once:
//
//	controlplane etcd [etcd flags]
//	controlplane kube-apiserver [kube-apiserver flags]
//	controlplane kube-controller-manager [kube-controller-manager flags]
//	controlplane kube-scheduler [kube-scheduler flags]
//	controlplane kubelet [kubelet flags]
//	controlplane kube-proxy [kube-proxy flags]
//	controlplane kubectl [kubectl arguments]
//	controlplane exec PROGRAM [arguments]   (runs PROGRAM, dying with this one's parent)
//
// Linked or copied under one of those names, it runs that component directly.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectl "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

// dieWithParentEnv, when set, makes the process die with the thread that started it, so a test
// run that crashes or is killed leaves no control plane behind.
const dieWithParentEnv = "ROSTER_DIE_WITH_PARENT"

func init() {
	// init runs on the main thread, which is the one the kernel signals.
	if os.Getenv(dieWithParentEnv) == "" {
		return
	}
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "controlplane: prctl(PR_SET_PDEATHSIG): %v\n", errno)
		os.Exit(1)
	}
	if os.Getppid() == 1 {
		// The parent is already gone.
		os.Exit(1)
	}
}

func main() {
	component, rest := filepath.Base(os.Args[0]), os.Args[1:]
	if component == "controlplane" {
		if len(rest) == 0 {
			usage()
		}
		component, rest = rest[0], rest[1:]
	}
	switch component {
	case "etcd":
		etcdmain.Main(append([]string{"etcd"}, rest...))
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := controllermanager.NewControllerManagerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kube-scheduler":
		cmd := scheduler.NewSchedulerCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kubelet":
		cmd := kubelet.NewKubeletCommand(context.Background())
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kube-proxy":
		cmd := proxy.NewProxyCommand()
		cmd.SetArgs(rest)
		os.Exit(cli.Run(cmd))
	case "kubectl":
		cmd := kubectl.NewDefaultKubectlCommand()
		cmd.SetArgs(rest)
		if err := cli.RunNoErrOutput(cmd); err != nil {
			kubectlutil.CheckErr(err)
		}
	case "exec":
		// The parent-death signal set in init survives execve, so any program started this
		// way dies with the test run too.
		if len(rest) == 0 {
			usage()
		}
		path, err := exec.LookPath(rest[0])
		if err == nil {
			err = syscall.Exec(path, rest, os.Environ())
		}
		fmt.Fprintf(os.Stderr, "controlplane exec %s: %v\n", rest[0], err)
		os.Exit(127)
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: controlplane etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl|exec [arguments]")
	os.Exit(2)
}
