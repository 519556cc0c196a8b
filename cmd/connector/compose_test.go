package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/dscokafka/connector/cmd/connector/internal/config"
)

// composeFile is the part of a Compose file the test reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Expose      []string          `yaml:"expose"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

// containerPorts are the ports a service listens on inside the network: its
// expose list and the container side of its published ports.
func (s composeService) containerPorts() []string {
	out := slices.Clone(s.Expose)
	for _, p := range s.Ports {
		parts := strings.Split(p, ":")
		out = append(out, parts[len(parts)-1])
	}
	return out
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	var f composeFile
	require.NoError(t, yaml.Unmarshal(data, &f), "docker-compose.yml parses (environment as a map, command as a list)")
	return f
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	images := map[string]string{
		"kafka":           "apache/kafka:",
		"schema-registry": "confluentinc/cp-schema-registry:",
		"kafka-ui":        "kafbat/kafka-ui:",
	}
	for name, prefix := range images {
		require.Contains(t, f.Services, name)
		assert.True(t, strings.HasPrefix(f.Services[name].Image, prefix), "%s runs %s*", name, prefix)
	}
	// The connector and the sandbox are built from this repository's Dockerfile.
	for _, name := range []string{"connector", "dsco-sandbox"} {
		require.Contains(t, f.Services, name)
		assert.Equal(t, ".", f.Services[name].Build, "%s is built from the repository", name)
	}
	assert.Equal(t, []string{"/usr/local/bin/dsco-sandbox"}, f.Services["dsco-sandbox"].Entrypoint)
	assert.Equal(t, "broker,controller", f.Services["kafka"].Environment["KAFKA_PROCESS_ROLES"], "KRaft, no ZooKeeper")
	for name, s := range f.Services {
		assert.NotNil(t, s.Healthcheck, "%s has a health check", name)
		if s.Healthcheck != nil {
			assert.NotEmpty(t, s.Healthcheck.Test, "%s's health check has a test", name)
		}
	}
}

// TestComposeConnectorEnvironment: every variable given to the connector is
// one its configuration knows, and together they are a valid configuration
// whose graceful shutdown ends before Compose kills the container.
func TestComposeConnectorEnvironment(t *testing.T) {
	conn := loadCompose(t).Services["connector"]
	env := conn.Environment
	require.NotEmpty(t, env)
	for name := range env {
		_, ok := config.Lookup(name)
		assert.True(t, ok, "connector variable %s is not in the configuration", name)
	}
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	require.NoError(t, err, "the connector's environment is a valid configuration")
	assert.Equal(t, config.RoleSupplier, cfg.Dsco.Role)
	grace, err := time.ParseDuration(conn.StopGracePeriod)
	require.NoError(t, err, "the connector has a stop_grace_period (Compose's default, 10s, cuts the shutdown short)")
	assert.Greater(t, grace, cfg.Connector.ShutdownTimeout, "stop_grace_period is beyond CONNECTOR_SHUTDOWN_TIMEOUT")
}

// TestComposePorts: published ports are unique, the connector's ops port is
// published, and the addresses the connector is given name services and
// ports that exist.
func TestComposePorts(t *testing.T) {
	f := loadCompose(t)
	published := map[string]string{}
	for name, s := range f.Services {
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			require.GreaterOrEqual(t, len(parts), 2, "%s publishes %q as host:container", name, p)
			host := parts[len(parts)-2]
			if other, dup := published[host]; dup {
				t.Errorf("host port %s published by both %s and %s", host, other, name)
			}
			published[host] = name
		}
	}

	conn := f.Services["connector"]
	opsAddr := conn.Environment["CONNECTOR_OPS_ADDR"]
	if opsAddr == "" {
		field, _ := config.Lookup("CONNECTOR_OPS_ADDR")
		opsAddr = field.Default
	}
	_, opsPort, err := net.SplitHostPort(opsAddr)
	require.NoError(t, err)
	assert.Contains(t, conn.containerPorts(), opsPort, "the ops port %s is published", opsPort)
	assert.Contains(t, healthTest(conn), "http://127.0.0.1:"+opsPort+"/healthz", "the health check asks the ops port")

	// Each address the connector uses names a service and a port it listens on.
	hostPorts := map[string][]string{}
	for _, b := range strings.Split(conn.Environment["KAFKA_BROKERS"], ",") {
		hostPorts["KAFKA_BROKERS"] = append(hostPorts["KAFKA_BROKERS"], strings.TrimSpace(b))
	}
	for _, v := range []string{"SCHEMA_REGISTRY_URL", "DSCO_BASE_URL"} {
		u, err := url.Parse(conn.Environment[v])
		require.NoError(t, err, v)
		hostPorts[v] = append(hostPorts[v], u.Host)
	}
	for v, addrs := range hostPorts {
		for _, addr := range addrs {
			host, port, err := net.SplitHostPort(addr)
			require.NoError(t, err, "%s=%s has a port", v, addr)
			svc, ok := f.Services[host]
			if !assert.True(t, ok, "%s names service %q, which does not exist", v, host) {
				continue
			}
			assert.Contains(t, svc.containerPorts(), port, "%s: service %s does not listen on %s", v, host, port)
			assert.Contains(t, conn.DependsOn, host, "the connector waits for %s", host)
		}
	}

	// The sandbox listens where DSCO_BASE_URL points.
	sb := f.Services["dsco-sandbox"]
	i := slices.Index(sb.Command, "--addr")
	require.GreaterOrEqual(t, i, 0, "the sandbox is given --addr")
	_, sbPort, err := net.SplitHostPort(sb.Command[i+1])
	require.NoError(t, err)
	u, _ := url.Parse(conn.Environment["DSCO_BASE_URL"])
	assert.Equal(t, u.Port(), sbPort)
	assert.Contains(t, sb.containerPorts(), sbPort)

	// Kafka advertises its internal listener under its service name.
	assert.Contains(t, f.Services["kafka"].Environment["KAFKA_ADVERTISED_LISTENERS"], "://"+conn.Environment["KAFKA_BROKERS"])
}

func TestComposeDependencies(t *testing.T) {
	f := loadCompose(t)
	for name, s := range f.Services {
		for dep, d := range s.DependsOn {
			target, ok := f.Services[dep]
			if !assert.True(t, ok, "%s depends on %q, which does not exist", name, dep) {
				continue
			}
			assert.Equal(t, "service_healthy", d.Condition, "%s waits for %s to be healthy", name, dep)
			assert.NotNil(t, target.Healthcheck, "%s depends on %s, which has no health check", name, dep)
		}
	}
	assert.ElementsMatch(t, []string{"kafka", "schema-registry", "dsco-sandbox"}, keys(f.Services["connector"].DependsOn))
}

// TestComposeHealthChecksUseTheImage: the distroless image has no shell, so
// the health checks of the services built from it run the connector's own
// probe against a port the service listens on.
func TestComposeHealthChecksUseTheImage(t *testing.T) {
	f := loadCompose(t)
	probe := regexp.MustCompile(`^CMD /usr/local/bin/connector probe http://127\.0\.0\.1:(\d+)/`)
	for _, name := range []string{"connector", "dsco-sandbox"} {
		s := f.Services[name]
		m := probe.FindStringSubmatch(healthTest(s))
		if assert.NotNil(t, m, "%s: health check %q", name, healthTest(s)) {
			assert.Contains(t, s.containerPorts(), m[1], "%s probes a port it listens on", name)
		}
	}
}

func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	df := string(data)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	require.Len(t, froms, 2, "a build stage and a runtime stage")
	// The build image has go.mod's Go version: official golang images do not
	// download a newer toolchain (GOTOOLCHAIN=local).
	gomod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(gomod)
	require.NotNil(t, goVersion)
	assert.Equal(t, "golang:"+string(goVersion[1])+"-bookworm", froms[0][1])
	assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", froms[1][1])
	for _, pkg := range []string{"./cmd/connector", "./cmd/dsco-sandbox"} {
		assert.Regexp(t, `CGO_ENABLED=0 GOOS=linux go build [^\n]* `+regexp.QuoteMeta(pkg)+`\b`, df, "static build of %s", pkg)
	}
	// `connector version` in the image reports the REVISION build argument
	// (TestStampedRevision: the variable it sets).
	assert.Regexp(t, `-X main\.stampedRevision=\$\{REVISION\}"[^\n]* \./cmd/connector\b`, df)
	assert.Regexp(t, `(?m)^USER nonroot`, df)
	assert.Contains(t, df, `ENTRYPOINT ["/usr/local/bin/connector"]`)
	for _, c := range []string{"connector", "dsco-sandbox"} {
		_, err := os.Stat(fmt.Sprintf("../%s/main.go", c))
		assert.NoError(t, err, "the Dockerfile builds cmd/%s", c)
	}
}

func healthTest(s composeService) string {
	if s.Healthcheck == nil {
		return ""
	}
	return strings.Join(s.Healthcheck.Test, " ")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestComposeREADME: the README's table of the compose stack names the file's services,
// the host port each publishes and the sandbox's rate of orders, and the file's header
// comment names the published ports, so that neither drifts from the file unnoticed.
func TestComposeREADME(t *testing.T) {
	f := loadCompose(t)
	published := map[string]string{} // service → its host ports
	for name, s := range f.Services {
		var ports []string
		for _, p := range s.Ports {
			parts := strings.Split(p, ":")
			ports = append(ports, parts[len(parts)-2])
		}
		if len(ports) > 0 {
			published[name] = strings.Join(ports, ", ")
		}
	}

	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "\n## The compose stack\n")
	require.True(t, ok, "the README has a section on the compose stack")
	section, _, _ = strings.Cut(section, "\n## ")
	rows := regexp.MustCompile("(?m)^\\| `([a-z-]+)` \\| ([0-9, ]+) \\| (.*) \\|$").FindAllStringSubmatch(section, -1)
	inREADME := map[string]string{}
	what := map[string]string{}
	for _, r := range rows {
		inREADME[r[1]], what[r[1]] = r[2], r[3]
	}
	assert.Equal(t, published, inREADME, "the README's table: service → port on the host")

	sb := f.Services["dsco-sandbox"].Command
	i := slices.Index(sb, "--orders-per-second")
	require.GreaterOrEqual(t, i, 0, "the sandbox generates orders")
	assert.Contains(t, what["dsco-sandbox"], "creating "+sb[i+1]+" orders a second")
	assert.Contains(t, what["connector"], "http://localhost:"+published["connector"]+"/")

	data, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	var header []string
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		for _, m := range regexp.MustCompile(`localhost:(\d+)`).FindAllStringSubmatch(line, -1) {
			header = append(header, m[1])
		}
	}
	var hostPorts []string
	for _, p := range published {
		hostPorts = append(hostPorts, strings.Split(p, ", ")...)
	}
	assert.ElementsMatch(t, hostPorts, header, "the ports in the file's header comment")
}

// TestComposeSandboxCommand: the sandbox starts with the command line the file gives it
// (on a loopback port of the test's instead of its --addr), and answers its health check
// (the connector's probe of the path the file names).
func TestComposeSandboxCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sandbox")
	}
	s := loadCompose(t).Services["dsco-sandbox"]
	args := slices.Clone(s.Command)
	i := slices.Index(args, "--addr")
	require.GreaterOrEqual(t, i, 0, "the sandbox is given --addr")
	composeAddr := args[i+1]
	args[i+1] = "127.0.0.1:0"
	base, err := url.Parse(startSandbox(t, args...))
	require.NoError(t, err)

	health := s.Healthcheck.Test
	require.Equal(t, []string{"CMD", "/usr/local/bin/connector", "probe"}, health[:3])
	_, port, err := net.SplitHostPort(composeAddr)
	require.NoError(t, err)
	probeURL := strings.Replace(health[3], "127.0.0.1:"+port, base.Host, 1)
	require.NotEqual(t, health[3], probeURL, "the health check asks the port of --addr")
	r := runMain(t, nil, "probe", probeURL)
	assert.Equal(t, exitOK, r.code, r.stderr)
}
