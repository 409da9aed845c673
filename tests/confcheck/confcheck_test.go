package confcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

const confDir = "../../conf"

// configPairs lists each YAML configuration with its classic-format twin.
var configPairs = [][2]string{
	{"fluent-bit.yaml", "fluent-bit.conf"},
	{"fluent-bit-stdout.yaml", "fluent-bit-stdout.conf"},
	{"edge/fluent-bit.yaml", "edge/fluent-bit.conf"},
	{"aggregator/fluent-bit.yaml", "aggregator/fluent-bit.conf"},
}

// Property names accepted by Fluent Bit 5.1.1, from the config maps and property checks in
// src/flb_input.c, src/flb_filter.c, src/flb_output.c, src/flb_config.c and the plugins'
// own config maps (plugins/filter_rewrite_tag, filter_lua, out_http, out_file, out_stdout,
// out_forward, in_forward, out_s3). Only the keys these files could use are listed.
var (
	tlsKeys = []string{"tls", "tls.verify", "tls.verify_hostname", "tls.ca_file",
		"tls.ca_path", "tls.crt_file", "tls.key_file", "tls.key_passwd", "tls.vhost",
		"tls.debug", "tls.min_version", "tls.max_version", "tls.ciphers"}
	inputCoreKeys = append([]string{"tag", "alias", "log_level", "mem_buf_limit",
		"storage.type", "storage.pause_on_chunks_overlimit", "threaded", "listen", "host",
		"port"}, tlsKeys...)
	filterCoreKeys = []string{"match", "match_regex", "alias", "log_level"}
	outputCoreKeys = append([]string{"match", "match_regex", "alias", "log_level",
		"retry_limit", "storage.total_limit_size", "workers", "host", "port"}, tlsKeys...)

	pluginKeys = map[string][]string{
		// The Okta input reads these through the Go proxy's property lookup.
		"input/okta": {"org_url", "client_id", "key_id", "private_key_file", "private_key",
			"scopes", "dpop", "dpop_key_file", "initial_lookback", "poll_interval",
			"page_size", "filter", "query", "state_file", "ca_file", "proxy", "http_timeout",
			"original_data", "schema_map_file"},
		"input/forward": {"tag_prefix", "shared_key", "self_hostname", "unix_path",
			"unix_perm", "buffer_chunk_size", "buffer_max_size", "tls.verify_client_cert"},
		"filter/rewrite_tag": {"rule", "emitter_name", "emitter_storage.type",
			"emitter_mem_buf_limit"},
		"filter/lua": {"script", "code", "call", "type_int_key", "type_array_key",
			"protected_mode", "time_as_table", "enable_flb_null"},
		"output/http": {"uri", "header", "format", "json_date_key", "json_date_format",
			"compress", "http_method", "http_user", "http_passwd", "proxy",
			"log_response_payload"},
		"output/file": {"path", "file", "format", "mkdir", "rotate", "rotate_max_size",
			"rotate_max_files", "rotate_gzip", "template", "delimiter"},
		"output/stdout": {"format", "json_date_key", "json_date_format"},
		"output/forward": {"shared_key", "self_hostname", "require_ack_response",
			"compress", "time_as_integer", "send_options", "username", "password"},
	}

	serviceKeys = []string{"flush", "grace", "daemon", "log_level", "log_file",
		"http_server", "http_listen", "http_port", "health_check", "hc_errors_count",
		"hc_retry_failure_count", "hc_period", "plugins_file", "parsers_file",
		"storage.path", "storage.sync", "storage.checksum", "storage.max_chunks_up",
		"storage.backlog.mem_limit", "storage.metrics", "storage.keep.rejected"}
)

// Hosts that a default must never point at: a configuration names these only through
// environment variables.
var realHosts = regexp.MustCompile(`(?i)(okta\.com|oktapreview\.com|okta-emea\.com|` +
	`secureworks\.com)`)

var envReference = regexp.MustCompile(`^\$\{[A-Z][A-Z0-9_]*\}$`)

func parsePair(t *testing.T, pair [2]string) (*Pipeline, *Pipeline) {
	t.Helper()
	yamlPipeline, err := ParseYAML(filepath.Join(confDir, pair[0]))
	if err != nil {
		t.Fatal(err)
	}
	classicPipeline, err := ParseClassic(filepath.Join(confDir, pair[1]))
	if err != nil {
		t.Fatal(err)
	}
	return yamlPipeline, classicPipeline
}

func forEachPipeline(t *testing.T, check func(t *testing.T, p *Pipeline)) {
	for _, pair := range configPairs {
		yamlPipeline, classicPipeline := parsePair(t, pair)
		for _, p := range []*Pipeline{yamlPipeline, classicPipeline} {
			t.Run(strings.TrimPrefix(p.Path, confDir+"/"), func(t *testing.T) { check(t, p) })
		}
	}
}

func TestReferencedFilesExist(t *testing.T) {
	forEachPipeline(t, func(t *testing.T, p *Pipeline) {
		for _, key := range []string{"plugins_file", "parsers_file"} {
			name := p.Service[key]
			if name == "" {
				continue
			}
			if _, err := os.Stat(p.Resolve(name)); err != nil {
				t.Errorf("service %s %q: %v", key, name, err)
			}
		}
		for _, filter := range p.Filters {
			if script := filter.Get("script"); script != "" {
				if _, err := os.Stat(p.Resolve(script)); err != nil {
					t.Errorf("filter %s script %q: %v", filter.Name, script, err)
				}
			}
		}
	})
}

func TestInputsUseOktaPluginFile(t *testing.T) {
	forEachPipeline(t, func(t *testing.T, p *Pipeline) {
		usesOkta := false
		for _, input := range p.Inputs {
			usesOkta = usesOkta || input.Name == "okta"
		}
		name := p.Service["plugins_file"]
		if !usesOkta {
			if name != "" {
				t.Errorf("plugins_file %q set, but no input uses the okta plugin", name)
			}
			return
		}
		if name == "" {
			t.Fatalf("an input uses the okta plugin but the service sets no plugins_file")
		}
		paths, err := PluginPaths(p.Resolve(name))
		if err != nil {
			t.Fatal(err)
		}
		if len(paths) != 1 || !filepath.IsAbs(paths[0]) ||
			filepath.Base(paths[0]) != "in_okta.so" {
			t.Errorf("plugins file %s lists %q, want one absolute path to in_okta.so",
				name, paths)
		}
	})
}

// rewrittenTags returns the new tags of every rewrite_tag rule ($KEY REGEX NEW_TAG KEEP).
func rewrittenTags(t *testing.T, filter Plugin) []string {
	t.Helper()
	var tags []string
	for _, rule := range filter.Properties["rule"] {
		fields := strings.Fields(rule)
		if len(fields) != 4 {
			t.Errorf("rewrite_tag rule %q: want 4 fields ($KEY REGEX NEW_TAG KEEP)", rule)
			continue
		}
		if _, err := regexp.Compile(fields[1]); err != nil {
			t.Errorf("rewrite_tag rule %q: invalid regex: %v", rule, err)
		}
		if keep := strings.ToLower(fields[3]); keep != "false" && keep != "true" {
			t.Errorf("rewrite_tag rule %q: KEEP is %q, want true or false", rule, fields[3])
		}
		tags = append(tags, fields[2])
	}
	return tags
}

func matchedBy(t *testing.T, plugins []Plugin, tag string) []Plugin {
	t.Helper()
	var matched []Plugin
	for _, plugin := range plugins {
		ok, err := MatchesTag(plugin, tag)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			matched = append(matched, plugin)
		}
	}
	return matched
}

func TestRewrittenTagsAreRouted(t *testing.T) {
	luaScript, err := os.ReadFile(filepath.Join(confDir, "okta_xdr.lua"))
	if err != nil {
		t.Fatal(err)
	}
	forEachPipeline(t, func(t *testing.T, p *Pipeline) {
		for _, filter := range p.Filters {
			if filter.Name != "rewrite_tag" {
				continue
			}
			tags := rewrittenTags(t, filter)
			if len(tags) == 0 {
				t.Errorf("rewrite_tag filter has no rule")
			}
			for _, tag := range tags {
				if ok, _ := MatchesTag(filter, tag); ok {
					t.Errorf("rewrite_tag match %q also matches its new tag %s: emitter cycle",
						filter.Get("match"), tag)
				}
				filters := matchedBy(t, p.Filters, tag)
				outputs := matchedBy(t, p.Outputs, tag)
				if len(filters)+len(outputs) == 0 {
					t.Errorf("tag %s from rewrite_tag is matched by no filter or output", tag)
				}
				if len(outputs) == 0 {
					t.Errorf("tag %s from rewrite_tag reaches no output", tag)
				}
				checkLuaEntryPoint(t, tag, filters, string(luaScript))
			}

			// A record the emitter rejects keeps its tag, so the input tag needs an output.
			inputTag := filter.Get("match")
			if len(matchedBy(t, p.Outputs, inputTag)) == 0 {
				t.Errorf("no output matches %s, so records the emitter rejects are lost",
					inputTag)
			}
		}
	})
}

// checkLuaEntryPoint checks that okta.<schema> for an XDR schema runs exactly one lua
// filter calling okta_<schema>, a function the script defines.
func checkLuaEntryPoint(t *testing.T, tag string, filters []Plugin, script string) {
	t.Helper()
	schema := strings.TrimPrefix(tag, "okta.")
	if schema == "unmapped" {
		if len(filters) != 0 {
			t.Errorf("tag %s runs %d filters, want none (unmapped records are archived raw)",
				tag, len(filters))
		}
		return
	}
	if len(filters) != 1 || filters[0].Name != "lua" {
		t.Errorf("tag %s runs %d filters, want exactly one lua filter", tag, len(filters))
		return
	}
	call := filters[0].Get("call")
	if call != "okta_"+schema {
		t.Errorf("tag %s: lua call = %q, want okta_%s", tag, call, schema)
	}
	if !strings.Contains(script, "\nfunction "+call+"(") {
		t.Errorf("tag %s: okta_xdr.lua defines no function %s", tag, call)
	}
	if filters[0].Get("type_int_key") != "event_time_usec" {
		t.Errorf("tag %s: lua type_int_key = %q, want event_time_usec", tag,
			filters[0].Get("type_int_key"))
	}
}

func checkKeys(t *testing.T, where string, properties map[string][]string, allowed []string) {
	t.Helper()
	set := map[string]bool{}
	for _, key := range allowed {
		set[key] = true
	}
	for key := range properties {
		if !set[key] {
			t.Errorf("%s: property %q is not a Fluent Bit 5.1 property of this plugin", where, key)
		}
	}
}

func TestPropertyNamesExist(t *testing.T) {
	forEachPipeline(t, func(t *testing.T, p *Pipeline) {
		service := map[string][]string{}
		for key, value := range p.Service {
			service[key] = []string{value}
		}
		checkKeys(t, "service", service, serviceKeys)

		kinds := []struct {
			kind    string
			plugins []Plugin
			core    []string
		}{
			{"input", p.Inputs, inputCoreKeys},
			{"filter", p.Filters, filterCoreKeys},
			{"output", p.Outputs, outputCoreKeys},
		}
		for _, kind := range kinds {
			for _, plugin := range kind.plugins {
				own, known := pluginKeys[kind.kind+"/"+plugin.Name]
				if !known {
					t.Errorf("%s %s: plugin not covered by this check", kind.kind, plugin.Name)
					continue
				}
				allowed := append(append([]string{}, kind.core...), own...)
				checkKeys(t, kind.kind+" "+plugin.Name, plugin.Properties, allowed)
			}
		}
	})
}

func TestNoRealHostOrSecret(t *testing.T) {
	envOnly := map[string]bool{"org_url": true, "client_id": true, "key_id": true,
		"private_key_file": true, "private_key": true, "shared_key": true}
	forEachPipeline(t, func(t *testing.T, p *Pipeline) {
		for _, plugin := range append(append(append([]Plugin{}, p.Inputs...), p.Filters...),
			p.Outputs...) {
			for key, values := range plugin.Properties {
				for _, value := range values {
					if realHosts.MatchString(value) {
						t.Errorf("%s %s = %q names a real Okta or Taegis host",
							plugin.Name, key, value)
					}
					if envOnly[key] && !envReference.MatchString(value) {
						t.Errorf("%s %s = %q, want an environment reference like ${NAME}",
							plugin.Name, key, value)
					}
				}
			}
			isClient := plugin.Name == "http" || (plugin.Name == "forward" && plugin.Get("listen") == "")
			if isClient {
				if !envReference.MatchString(plugin.Get("host")) {
					t.Errorf("%s host = %q, want an environment reference", plugin.Name,
						plugin.Get("host"))
				}
			}
		}
	})
}

func TestXDROutputSettings(t *testing.T) {
	want := map[string]string{
		"format": "json_lines", "tls": "on", "tls.verify": "on",
		"retry_limit": "no_limits", "header": "Authorization Bearer ${TAEGIS_INTEGRATION_KEY}",
	}
	for _, pair := range configPairs {
		yamlPipeline, classicPipeline := parsePair(t, pair)
		for _, p := range []*Pipeline{yamlPipeline, classicPipeline} {
			for _, output := range p.Outputs {
				if output.Name != "http" {
					continue
				}
				for key, value := range want {
					if !strings.EqualFold(output.Get(key), value) {
						t.Errorf("%s: http %s = %q, want %q", p.Path, key, output.Get(key), value)
					}
				}
				if output.Get("storage.total_limit_size") == "" {
					t.Errorf("%s: http output sets no storage.total_limit_size", p.Path)
				}
			}
			for _, input := range p.Inputs {
				if input.Name == "okta" && p.Service["storage.path"] != "" &&
					input.Get("storage.type") != "filesystem" {
					t.Errorf("%s: okta input storage.type = %q, want filesystem", p.Path,
						input.Get("storage.type"))
				}
			}
		}
	}
}

// normalize renders a value for comparing the two formats: booleans and case do not
// matter, environment references and everything else must be identical.
func normalize(key, value string) string {
	switch strings.ToLower(value) {
	case "on", "true", "yes":
		return "true"
	case "off", "false", "no":
		return "false"
	}
	if key == "plugins_file" {
		value = strings.TrimSuffix(strings.TrimSuffix(value, ".yaml"), ".conf")
	}
	if envReference.MatchString(value) || strings.Contains(value, "${") {
		return value
	}
	return strings.ToLower(value)
}

func describe(p *Pipeline) []string {
	var lines []string
	for key, value := range p.Service {
		lines = append(lines, fmt.Sprintf("service %s=%s", key, normalize(key, value)))
	}
	sort.Strings(lines)
	kinds := []struct {
		kind    string
		plugins []Plugin
	}{{"input", p.Inputs}, {"filter", p.Filters}, {"output", p.Outputs}}
	for _, kind := range kinds {
		for i, plugin := range kind.plugins {
			var props []string
			for key, values := range plugin.Properties {
				for _, value := range values {
					props = append(props, fmt.Sprintf("%s=%s", key, normalize(key, value)))
				}
			}
			sort.Strings(props)
			for _, prop := range props {
				lines = append(lines, fmt.Sprintf("%s %d %s %s", kind.kind, i+1, plugin.Name, prop))
			}
		}
	}
	return lines
}

func TestYAMLAndClassicDescribeSamePipeline(t *testing.T) {
	for _, pair := range configPairs {
		yamlPipeline, classicPipeline := parsePair(t, pair)
		fromYAML := describe(yamlPipeline)
		fromClassic := describe(classicPipeline)
		inClassic := map[string]bool{}
		for _, line := range fromClassic {
			inClassic[line] = true
		}
		inYAML := map[string]bool{}
		for _, line := range fromYAML {
			inYAML[line] = true
			if !inClassic[line] {
				t.Errorf("%s has %q, %s does not", pair[0], line, pair[1])
			}
		}
		for _, line := range fromClassic {
			if !inYAML[line] {
				t.Errorf("%s has %q, %s does not", pair[1], line, pair[0])
			}
		}
		if len(yamlPipeline.Inputs)+len(yamlPipeline.Outputs) == 0 {
			t.Errorf("%s: parsed no inputs or outputs", pair[0])
		}
	}
}

func TestPluginFilesListSamePaths(t *testing.T) {
	fromYAML, err := PluginPaths(filepath.Join(confDir, "plugins.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	fromClassic, err := PluginPaths(filepath.Join(confDir, "plugins.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(fromYAML, "\n") != strings.Join(fromClassic, "\n") || len(fromYAML) == 0 {
		t.Errorf("plugins.yaml lists %q, plugins.conf lists %q", fromYAML, fromClassic)
	}
}

// TestArchiveGetsEveryRawRecord checks that a pipeline with a file archive archives each record
// once in its raw form: a rule with KEEP true leaves the original under the input tag, which
// the archive must match; a rule with KEEP false moves the record, so the archive must match
// the new tag and no lua filter may touch it.
func TestArchiveGetsEveryRawRecord(t *testing.T) {
	forEachPipeline(t, func(t *testing.T, p *Pipeline) {
		var archives []Plugin
		for _, out := range p.Outputs {
			if out.Name == "file" {
				archives = append(archives, out)
			}
		}
		if len(archives) == 0 {
			return
		}
		for _, filter := range p.Filters {
			if filter.Name != "rewrite_tag" {
				continue
			}
			inputTag := filter.Get("match")
			for _, rule := range filter.Properties["rule"] {
				fields := strings.Fields(rule)
				if len(fields) != 4 {
					continue
				}
				newTag, keep := fields[2], strings.ToLower(fields[3]) == "true"
				archivedTag := newTag
				if keep {
					archivedTag = inputTag
				}
				if len(matchedBy(t, archives, archivedTag)) == 0 {
					t.Errorf("rule %q: no file output matches %s, so its raw records are "+
						"not archived", rule, archivedTag)
				}
				if !keep && len(matchedBy(t, p.Filters, newTag)) != 0 {
					t.Errorf("rule %q moves records to %s, where a filter changes them "+
						"before the archive", rule, newTag)
				}
				if keep && len(matchedBy(t, archives, newTag)) != 0 {
					t.Errorf("rule %q keeps the original and the archive also matches %s: "+
						"two archived copies", rule, newTag)
				}
			}
		}
	})
}
