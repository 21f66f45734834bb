package validate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const root = "../.."

// TestDockerfile parses the Dockerfile as BuildKit does and checks the properties the
// deployment relies on: the two targets, static binaries, a minimal non-root final image.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("BuildKit cannot parse the Dockerfile: %v", err)
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		t.Fatalf("BuildKit rejects the Dockerfile's instructions: %v", err)
	}
	byName := map[string]instructions.Stage{}
	for _, s := range stages {
		byName[s.Name] = s
	}
	for _, target := range []string{"trialogd", "trillian"} {
		s, ok := byName[target]
		if !ok {
			t.Fatalf("no stage %q: `docker build --target %s` would fail", target, target)
		}
		if !strings.HasPrefix(s.BaseName, "gcr.io/distroless/static") {
			t.Errorf("stage %s is based on %s, want a distroless static image", target, s.BaseName)
		}
		var user string
		for _, c := range s.Commands {
			if u, ok := c.(*instructions.UserCommand); ok {
				user = u.User
			}
		}
		if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
			t.Errorf("stage %s runs as %q, want a non-root USER", target, user)
		}
	}
	if stages[len(stages)-1].Name != "trialogd" {
		t.Errorf("the last stage is %q: a plain `docker build .` must give trialogd", stages[len(stages)-1].Name)
	}
	if !strings.Contains(string(b), "go generate ./web") {
		t.Error("the image does not build the pages' verifier (go generate ./web): its pages could not verify")
	}
	if !strings.Contains(string(b), "CGO_ENABLED=0") {
		t.Error("binaries are not built with CGO_ENABLED=0: they would not run on a static base")
	}
}

// TestCompose loads both compose files as `docker compose config` does (compose-go validates
// against the Compose specification's schema and resolves anchors, merges and variables).
func TestCompose(t *testing.T) {
	keys := t.TempDir()
	for _, f := range []string{"log.key", "service.key", "admin.token"} {
		if err := os.WriteFile(filepath.Join(keys, f), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	load := func(t *testing.T, file string) *types.Project {
		t.Helper()
		opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "deploy", file)},
			cli.WithEnv([]string{"TRIALOG_KEYS_DIR=" + keys}), cli.WithResolvedPaths(true))
		if err != nil {
			t.Fatal(err)
		}
		p, err := opts.LoadProject(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return p
	}
	t.Run("one host", func(t *testing.T) {
		p := load(t, "compose.yaml")
		d, err := p.GetService("trialogd")
		if err != nil {
			t.Fatal(err)
		}
		if d.Build == nil || d.Build.Target != "trialogd" {
			t.Errorf("trialogd is not built from the repository's Dockerfile: %+v", d.Build)
		}
		if _, ok := d.DependsOn["mariadb"]; !ok || d.DependsOn["mariadb"].Condition != types.ServiceConditionHealthy {
			t.Errorf("trialogd does not wait for a healthy MariaDB: %+v", d.DependsOn)
		}
	})
	t.Run("cluster", func(t *testing.T) {
		p := load(t, "compose.cluster.yaml")
		var trialogd, servers, signers int
		for name, s := range p.Services {
			args := strings.Join(s.Command, " ") + " " + strings.Join(s.Entrypoint, " ")
			switch {
			case strings.HasPrefix(name, "trialogd-"):
				trialogd++
				if !strings.Contains(args, "--trillian=trillian-log-server:8090") {
					t.Errorf("%s does not use the external Trillian: %s", name, args)
				}
				if len(s.Secrets) != 3 {
					t.Errorf("%s mounts %d secrets, want log.key, service.key and admin.token", name, len(s.Secrets))
				}
				if s.DependsOn["migrate"].Condition != types.ServiceConditionCompletedSuccessfully {
					t.Errorf("%s starts before the schema step", name)
				}
			case strings.HasPrefix(name, "trillian-log-server-"):
				servers++
			case strings.HasPrefix(name, "trillian-log-signer-"):
				signers++
				if !strings.Contains(args, "--election_system=etcd") {
					t.Errorf("%s runs without election: %s", name, args)
				}
			}
		}
		if trialogd != 3 || servers != 2 || signers != 2 {
			t.Errorf("%d trialogd, %d log servers, %d signers; want 3, 2, 2", trialogd, servers, signers)
		}
		for name, s := range p.Secrets {
			if !strings.HasPrefix(s.File, keys) {
				t.Errorf("secret %s comes from %s, not TRIALOG_KEYS_DIR", name, s.File)
			}
		}
	})
}

// TestKubernetes decodes every manifest strictly into Kubernetes' own API types (an unknown or
// misspelt field fails, as with kubectl's server-side validation) and checks what the
// deployment relies on: probes, memory limits, non-root pods, Services that select pods,
// Secrets made by the documented commands.
func TestKubernetes(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme, rbacv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	files, err := filepath.Glob(filepath.Join(root, "deploy/kubernetes/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cluster, _ := filepath.Glob(filepath.Join(root, "deploy/kubernetes/cluster/*.yaml"))
	files = append(files, cluster...)
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	documentedSecrets := []string{"trialogd-keys", "trialog-db", "trialogd-db"}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(f, root+"/")
		if filepath.Base(f) == "kustomization.yaml" {
			var k struct {
				APIVersion string           `json:"apiVersion"`
				Kind       string           `json:"kind"`
				Labels     []map[string]any `json:"labels"`
				Resources  []string         `json:"resources"`
			}
			if err := yaml.UnmarshalStrict(b, &k); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, r := range k.Resources {
				if _, err := os.Stat(filepath.Join(filepath.Dir(f), r)); err != nil {
					t.Errorf("%s lists %s: %v", name, r, err)
				}
			}
			continue
		}
		podLabels := map[string]map[string]string{}
		var selectors []map[string]string
		r := utilyaml.NewYAMLReader(bufioReader(b))
		for {
			doc, err := r.Read()
			if err != nil {
				break
			}
			if len(bytes.TrimSpace(doc)) == 0 || isComment(doc) {
				continue
			}
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var pod *corev1.PodSpec
			var labels map[string]string
			switch o := obj.(type) {
			case *appsv1.Deployment:
				pod, labels = &o.Spec.Template.Spec, o.Spec.Template.Labels
				if !matches(o.Spec.Selector.MatchLabels, labels) {
					t.Errorf("%s: Deployment %s selects %v, its pods have %v", name, o.Name, o.Spec.Selector.MatchLabels, labels)
				}
			case *appsv1.StatefulSet:
				pod, labels = &o.Spec.Template.Spec, o.Spec.Template.Labels
			case *batchv1.Job:
				pod, labels = &o.Spec.Template.Spec, o.Spec.Template.Labels
			case *corev1.Service:
				selectors = append(selectors, o.Spec.Selector)
			case *corev1.Secret:
				t.Errorf("%s: Secret %s is in the manifests; secrets are made by the documented commands", name, o.Name)
			}
			_ = gvk
			if pod == nil {
				continue
			}
			podLabels[labels["app.kubernetes.io/name"]] = labels
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
				t.Errorf("%s: pods of %s may run as root", name, labels["app.kubernetes.io/name"])
			}
			for _, c := range pod.Containers {
				if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
					t.Errorf("%s: container %s uses an unpinned image %q", name, c.Name, c.Image)
				}
				if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
					t.Errorf("%s: container %s has no memory limit", name, c.Name)
				}
				if _, ok := obj.(*batchv1.Job); !ok && (c.ReadinessProbe == nil || c.LivenessProbe == nil) {
					t.Errorf("%s: container %s lacks a readiness or liveness probe", name, c.Name)
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !slices.Contains(documentedSecrets, e.ValueFrom.SecretKeyRef.Name) {
						t.Errorf("%s: %s reads Secret %s, which no documented command makes", name, c.Name, e.ValueFrom.SecretKeyRef.Name)
					}
				}
				if c.Name == "trialogd" && !slices.ContainsFunc(c.Args, regexp.MustCompile(`^--signing-key-file=`).MatchString) {
					t.Errorf("%s: trialogd does not take its log key from the Secret", name)
				}
			}
			for _, v := range pod.Volumes {
				if v.Secret != nil && !slices.Contains(documentedSecrets, v.Secret.SecretName) {
					t.Errorf("%s: volume %s mounts Secret %s, which no documented command makes", name, v.Name, v.Secret.SecretName)
				}
			}
		}
		for _, sel := range selectors {
			if podLabels[sel["app.kubernetes.io/name"]] == nil {
				t.Errorf("%s: a Service selects %v, which no workload in the file labels", name, sel)
			}
		}
	}
}

func matches(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func isComment(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
