// Command roster-interop checks that the UPSTREAM Go access library
// (sigs.k8s.io/cluster-inventory-api/pkg/access) reaches a member cluster from a ClusterProfile
// that Roster published, the way a Go consumer (Argo CD, MultiKueue, multicluster-runtime) does:
//
//	roster-interop access --hub-kubeconfig F --namespace NS --profile NAME --provider-file F \
//	    [--list-namespace NS2] [--secrets-namespace NS3]
//
// It reads the v1alpha1 ClusterProfile NS/NAME from the hub with the upstream generated
// clientset, builds a rest.Config with access.NewFromFile(F).BuildConfigFromCP, and lists the
// ConfigMaps of NS2 (default "default") on the member with client-go. With --secrets-namespace
// it also tries to list the Secrets of NS3 and reports whether the member refused (403).
//
// On success it prints one JSON line on stdout:
//
//	{"server": "...", "execCommand": "...", "execClusterConfig": {...}, "configMaps": ["..."],
//	 "secrets": {"namespace": "...", "forbidden": true}}
//
// On failure it prints the error on stderr and exits 2 when the member answered 403 Forbidden
// to the ConfigMap list (a real RBAC denial), 1 otherwise; 64 on a usage error.
//
// The upstream secretreader exec plugin is not part of this program (it is a main package):
// the Makefile builds it from this module's dependency graph as a separate binary (go.mod's
// `tool` directive keeps it there).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
)

const (
	exitFailure   = 1
	exitForbidden = 2
	exitUsage     = 64
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: roster-interop access --hub-kubeconfig F --namespace NS --profile NAME --provider-file F [--list-namespace NS2] [--secrets-namespace NS3]")
	os.Exit(exitUsage)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "access":
		os.Exit(runAccess(os.Args[2:]))
	default:
		usage()
	}
}

// secretsResult says whether listing Secrets was refused.
type secretsResult struct {
	Namespace string `json:"namespace"`
	Forbidden bool   `json:"forbidden"`
}

// result is the one JSON line printed on success.
type result struct {
	Server            string          `json:"server"`
	ExecCommand       string          `json:"execCommand"`
	ExecClusterConfig json.RawMessage `json:"execClusterConfig,omitempty"`
	ConfigMaps        []string        `json:"configMaps"`
	Secrets           *secretsResult  `json:"secrets,omitempty"`
}

func runAccess(args []string) int {
	fs := flag.NewFlagSet("access", flag.ContinueOnError)
	hubKubeconfig := fs.String("hub-kubeconfig", "", "kubeconfig of the hub that holds the ClusterProfile")
	namespace := fs.String("namespace", "cluster-inventory", "namespace of the ClusterProfile on the hub")
	profile := fs.String("profile", "", "name of the ClusterProfile")
	providerFile := fs.String("provider-file", "", "upstream access provider file ({\"providers\": [...]})")
	listNamespace := fs.String("list-namespace", "default", "member namespace whose ConfigMaps to list")
	secretsNamespace := fs.String("secrets-namespace", "", "member namespace whose Secrets to try to list (reports forbidden)")
	timeout := fs.Duration("timeout", 60*time.Second, "overall deadline")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *hubKubeconfig == "" || *profile == "" || *providerFile == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	out, err := reach(ctx, *hubKubeconfig, *namespace, *profile, *providerFile, *listNamespace, *secretsNamespace)
	if err != nil {
		fmt.Fprintf(os.Stderr, "roster-interop: %v\n", err)
		if apierrors.IsForbidden(err) {
			return exitForbidden
		}
		return exitFailure
	}
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "roster-interop: %v\n", err)
		return exitFailure
	}
	fmt.Println(string(line))
	return 0
}

func reach(ctx context.Context, hubKubeconfig, namespace, profile, providerFile, listNamespace, secretsNamespace string) (*result, error) {
	hubConfig, err := clientcmd.BuildConfigFromFlags("", hubKubeconfig)
	if err != nil {
		return nil, fmt.Errorf("hub kubeconfig %s: %w", hubKubeconfig, err)
	}
	profiles, err := versioned.NewForConfig(hubConfig)
	if err != nil {
		return nil, fmt.Errorf("hub client: %w", err)
	}
	cp, err := profiles.ApisV1alpha1().ClusterProfiles(namespace).Get(ctx, profile, metav1.GetOptions{})
	if err != nil {
		// A 403 from the hub is not the member's RBAC denial the exit code 2 stands for.
		return nil, fmt.Errorf("reading ClusterProfile %s/%s from the hub: %s", namespace, profile, err.Error())
	}

	providers, err := access.NewFromFile(providerFile)
	if err != nil {
		return nil, err
	}
	config, err := providers.BuildConfigFromCP(cp)
	if err != nil {
		return nil, fmt.Errorf("building a rest.Config from ClusterProfile %s/%s: %w", namespace, profile, err)
	}
	config.Timeout = 30 * time.Second

	out := &result{Server: config.Host, ConfigMaps: []string{}}
	if config.ExecProvider != nil {
		out.ExecCommand = config.ExecProvider.Command
		if config.ExecProvider.Config != nil {
			raw, err := json.Marshal(config.ExecProvider.Config)
			if err != nil {
				return nil, fmt.Errorf("exec cluster config: %w", err)
			}
			out.ExecClusterConfig = raw
		}
	}

	member, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("member client: %w", err)
	}
	list, err := member.CoreV1().ConfigMaps(listNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing ConfigMaps in %s on %s: %w", listNamespace, config.Host, err)
	}
	for _, cm := range list.Items {
		out.ConfigMaps = append(out.ConfigMaps, cm.Name)
	}
	sort.Strings(out.ConfigMaps)

	if secretsNamespace != "" {
		_, err := member.CoreV1().Secrets(secretsNamespace).List(ctx, metav1.ListOptions{})
		switch {
		case err == nil:
			out.Secrets = &secretsResult{Namespace: secretsNamespace, Forbidden: false}
		case apierrors.IsForbidden(err):
			out.Secrets = &secretsResult{Namespace: secretsNamespace, Forbidden: true}
		default:
			// Not a verdict either way: do not let exit code 2 claim a denial.
			return nil, errors.New("listing Secrets in " + secretsNamespace + ": " + err.Error())
		}
	}
	return out, nil
}
