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
//	{"libraryVersion": "v0.1.0", "server": "...", "execCommand": "...", "execClusterConfig": {...},
//	 "configMaps": ["..."], "secrets": {"namespace": "...", "forbidden": true}}
//
// libraryVersion is the version of sigs.k8s.io/cluster-inventory-api linked in, from the build
// information: the same source is built against several releases (go.mod: v0.1.0,
// go.v013.mod: v0.1.3, see the Makefile), and a test must know which one answered.
//
// On failure it prints the error on stderr and exits 2 when the member answered 403 Forbidden
// to the ConfigMap list (a real RBAC denial), 1 otherwise; 64 on a usage error.
//
// A second subcommand measures the cost of building a client with the upstream library, for
// `make bench` (its `credentials` suite compares it with the Rust library):
//
//	roster-interop bench-build --profile-file F --provider-file P [--iterations N] [--warmup W]
//
// It reads a v1alpha1 ClusterProfile (JSON) from F and times, in-process and per iteration,
// (1) access.Config.BuildConfigFromCP with the provider file loaded once, (2) the same preceded
// by access.NewFromFile(P), and (3) BuildConfigFromCP + kubernetes.NewForConfig (client-go runs
// the exec plugin later, on the first request, so no plugin runs here). It prints one JSON line
// (see buildResult); the server and exec command of the last build let the caller check that
// the timed work built what it should.
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
	"runtime"
	"runtime/debug"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/cluster-inventory-api/apis/v1alpha1"
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
	fmt.Fprintln(os.Stderr, "       roster-interop bench-build --profile-file F --provider-file P [--iterations N] [--warmup W]")
	os.Exit(exitUsage)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "access":
		os.Exit(runAccess(os.Args[2:]))
	case "bench-build":
		os.Exit(runBenchBuild(os.Args[2:]))
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
	LibraryVersion    string          `json:"libraryVersion"`
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
	return printLine(out)
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

	out := &result{LibraryVersion: libraryVersion(), Server: config.Host, ConfigMaps: []string{}}
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

// libraryVersion is the version of the upstream module this binary was built with.
func libraryVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == "sigs.k8s.io/cluster-inventory-api" {
			return dep.Version
		}
	}
	return "unknown"
}

// timing summarises the per-iteration durations of one timed loop.
type timing struct {
	MeanNs      float64 `json:"meanNs"`
	MedianNs    float64 `json:"medianNs"`
	AllocsPerOp float64 `json:"allocsPerOp"`
	BytesPerOp  float64 `json:"bytesPerOp"`
}

// buildResult is the one JSON line bench-build prints.
type buildResult struct {
	Iterations int `json:"iterations"`
	// Config: BuildConfigFromCP, provider file loaded once.
	Config timing `json:"config"`
	// LoadAndConfig: access.NewFromFile, then BuildConfigFromCP.
	LoadAndConfig timing `json:"loadAndConfig"`
	// Client: BuildConfigFromCP + kubernetes.NewForConfig, provider file loaded once.
	Client      timing `json:"client"`
	Server      string `json:"server"`
	ExecCommand string `json:"execCommand"`
	GoVersion   string `json:"goVersion"`
}

func runBenchBuild(args []string) int {
	fs := flag.NewFlagSet("bench-build", flag.ContinueOnError)
	profileFile := fs.String("profile-file", "", "v1alpha1 ClusterProfile, JSON")
	providerFile := fs.String("provider-file", "", "upstream access provider file ({\"providers\": [...]})")
	iterations := fs.Int("iterations", 2000, "timed iterations per loop")
	warmup := fs.Int("warmup", 200, "untimed iterations before each loop")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *profileFile == "" || *providerFile == "" || *iterations < 1 || *warmup < 0 || fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	out, err := benchBuild(*profileFile, *providerFile, *iterations, *warmup)
	if err != nil {
		fmt.Fprintf(os.Stderr, "roster-interop: %v\n", err)
		return exitFailure
	}
	return printLine(out)
}

func benchBuild(profileFile, providerFile string, iterations, warmup int) (*buildResult, error) {
	raw, err := os.ReadFile(profileFile)
	if err != nil {
		return nil, err
	}
	var cp v1alpha1.ClusterProfile
	if err := json.Unmarshal(raw, &cp); err != nil {
		return nil, fmt.Errorf("profile %s: %w", profileFile, err)
	}
	providers, err := access.NewFromFile(providerFile)
	if err != nil {
		return nil, err
	}
	out := &buildResult{Iterations: iterations, GoVersion: runtime.Version()}
	config := func(p *access.Config) (*rest.Config, error) {
		config, err := p.BuildConfigFromCP(&cp)
		if err != nil {
			return nil, err
		}
		out.Server = config.Host
		if config.ExecProvider != nil {
			out.ExecCommand = config.ExecProvider.Command
		}
		return config, nil
	}
	configOnly := func() error {
		_, err := config(providers)
		return err
	}
	loadAndConfig := func() error {
		p, err := access.NewFromFile(providerFile)
		if err != nil {
			return err
		}
		_, err = config(p)
		return err
	}
	client := func() error {
		c, err := config(providers)
		if err != nil {
			return err
		}
		_, err = kubernetes.NewForConfig(c)
		return err
	}
	if out.Config, err = timeLoop(iterations, warmup, configOnly); err != nil {
		return nil, err
	}
	if out.LoadAndConfig, err = timeLoop(iterations, warmup, loadAndConfig); err != nil {
		return nil, err
	}
	if out.Client, err = timeLoop(iterations, warmup, client); err != nil {
		return nil, err
	}
	return out, nil
}

// timeLoop runs op warmup times untimed, then iterations times, timing each call.
func timeLoop(iterations, warmup int, op func() error) (timing, error) {
	for i := 0; i < warmup; i++ {
		if err := op(); err != nil {
			return timing{}, err
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	samples := make([]float64, iterations)
	var total time.Duration
	for i := range samples {
		start := time.Now()
		err := op()
		elapsed := time.Since(start)
		if err != nil {
			return timing{}, err
		}
		samples[i] = float64(elapsed.Nanoseconds())
		total += elapsed
	}
	runtime.ReadMemStats(&after)
	sort.Float64s(samples)
	n := float64(iterations)
	return timing{
		MeanNs:      float64(total.Nanoseconds()) / n,
		MedianNs:    samples[(iterations-1)/2],
		AllocsPerOp: float64(after.Mallocs-before.Mallocs) / n,
		BytesPerOp:  float64(after.TotalAlloc-before.TotalAlloc) / n,
	}, nil
}

// printLine prints out as one JSON line and returns the exit code.
func printLine(out any) int {
	line, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "roster-interop: %v\n", err)
		return exitFailure
	}
	fmt.Println(string(line))
	return 0
}
