// Package confcheck parses the Fluent Bit configurations in conf/ (YAML and classic
// format) into one pipeline model, so tests can check references, routing and that each
// YAML file and its classic twin describe the same pipeline.
package confcheck

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Plugin is one input, filter or output section: its name and its properties. Keys are
// lowercase because Fluent Bit compares property names case-insensitively. A key given
// several times (rewrite_tag's rule) keeps every value in order.
type Plugin struct {
	Name       string
	Properties map[string][]string
}

// Get returns the first value of key, or "" when the plugin does not set it.
func (p Plugin) Get(key string) string {
	if values := p.Properties[key]; len(values) > 0 {
		return values[0]
	}
	return ""
}

// Pipeline is a parsed Fluent Bit configuration file.
type Pipeline struct {
	Path    string
	Service map[string]string
	Inputs  []Plugin
	Filters []Plugin
	Outputs []Plugin
}

// ParseYAML reads a Fluent Bit YAML configuration file (service and pipeline sections).
func ParseYAML(path string) (*Pipeline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Service  map[string]any `yaml:"service"`
		Pipeline struct {
			Inputs  []map[string]any `yaml:"inputs"`
			Filters []map[string]any `yaml:"filters"`
			Outputs []map[string]any `yaml:"outputs"`
		} `yaml:"pipeline"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("confcheck: %s: %w", path, err)
	}

	p := &Pipeline{Path: path, Service: map[string]string{}}
	for key, value := range doc.Service {
		p.Service[strings.ToLower(key)] = fmt.Sprint(value)
	}
	sections := []struct {
		items []map[string]any
		dst   *[]Plugin
	}{
		{doc.Pipeline.Inputs, &p.Inputs},
		{doc.Pipeline.Filters, &p.Filters},
		{doc.Pipeline.Outputs, &p.Outputs},
	}
	for _, section := range sections {
		for i, item := range section.items {
			plugin, err := yamlPlugin(item)
			if err != nil {
				return nil, fmt.Errorf("confcheck: %s: plugin %d: %w", path, i+1, err)
			}
			*section.dst = append(*section.dst, plugin)
		}
	}
	return p, nil
}

func yamlPlugin(item map[string]any) (Plugin, error) {
	plugin := Plugin{Properties: map[string][]string{}}
	for key, value := range item {
		key = strings.ToLower(key)
		switch v := value.(type) {
		case []any:
			for _, element := range v {
				plugin.Properties[key] = append(plugin.Properties[key], fmt.Sprint(element))
			}
		case map[string]any:
			return plugin, fmt.Errorf("property %q is a map, which this check does not model", key)
		default:
			plugin.Properties[key] = []string{yamlScalar(v)}
		}
	}
	plugin.Name = plugin.Get("name")
	if plugin.Name == "" {
		return plugin, fmt.Errorf("missing name")
	}
	delete(plugin.Properties, "name")
	return plugin, nil
}

// yamlScalar renders a decoded scalar as Fluent Bit receives it: YAML 1.2 turns on/off
// into strings already, true/false into booleans.
func yamlScalar(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

var sectionHeader = regexp.MustCompile(`^\[([A-Za-z_]+)\]$`)

// ParseClassic reads a classic-format Fluent Bit configuration file. It supports what the
// files in conf/ use: [SECTION] headers, "Key Value" lines and # comments. @INCLUDE and
// @SET are rejected because the checks would not see their effect.
func ParseClassic(path string) (*Pipeline, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()

	p := &Pipeline{Path: path, Service: map[string]string{}}
	var current *Plugin
	var currentSection string
	flush := func() error {
		if current == nil {
			return nil
		}
		current.Name = current.Get("name")
		if current.Name == "" {
			return fmt.Errorf("confcheck: %s: [%s] section without Name", path, currentSection)
		}
		delete(current.Properties, "name")
		switch currentSection {
		case "INPUT":
			p.Inputs = append(p.Inputs, *current)
		case "FILTER":
			p.Filters = append(p.Filters, *current)
		case "OUTPUT":
			p.Outputs = append(p.Outputs, *current)
		}
		current = nil
		return nil
	}

	scanner := bufio.NewScanner(file)
	for lineNumber := 1; scanner.Scan(); lineNumber++ {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "@") {
			return nil, fmt.Errorf("confcheck: %s:%d: directive %q is not supported by this check",
				path, lineNumber, line)
		}
		if match := sectionHeader.FindStringSubmatch(line); match != nil {
			if err := flush(); err != nil {
				return nil, err
			}
			currentSection = strings.ToUpper(match[1])
			switch currentSection {
			case "SERVICE", "PLUGINS":
			case "INPUT", "FILTER", "OUTPUT":
				current = &Plugin{Properties: map[string][]string{}}
			default:
				return nil, fmt.Errorf("confcheck: %s:%d: unknown section [%s]",
					path, lineNumber, match[1])
			}
			continue
		}
		if currentSection == "" {
			return nil, fmt.Errorf("confcheck: %s:%d: property outside a section: %q",
				path, lineNumber, line)
		}
		key, value, _ := strings.Cut(line, " ")
		key = strings.ToLower(key)
		value = strings.TrimSpace(value)
		switch {
		case current != nil:
			current.Properties[key] = append(current.Properties[key], value)
		case currentSection == "SERVICE":
			p.Service[key] = value
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return p, nil
}

// PluginPaths returns the shared object paths listed by a plugins file in either format.
func PluginPaths(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml") {
		var doc struct {
			Plugins []string `yaml:"plugins"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("confcheck: %s: %w", path, err)
		}
		return doc.Plugins, nil
	}
	var paths []string
	for _, line := range strings.Split(string(data), "\n") {
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.EqualFold(key, "path") {
			paths = append(paths, strings.TrimSpace(value))
		}
	}
	return paths, nil
}

// Resolve returns a path named in the configuration as Fluent Bit 5.1 resolves script
// and plugins_file paths: relative to the directory of the main configuration file.
func (p *Pipeline) Resolve(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(p.Path), name)
}

// MatchesTag reports whether a filter or output with match or match_regex selects tag.
// In match, "*" stands for any run of characters, as in Fluent Bit's flb_router_match.
func MatchesTag(plugin Plugin, tag string) (bool, error) {
	if pattern := plugin.Get("match_regex"); pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return false, fmt.Errorf("confcheck: invalid match_regex %q: %w", pattern, err)
		}
		return re.MatchString(tag), nil
	}
	pattern := plugin.Get("match")
	if pattern == "" {
		return false, nil
	}
	quoted := strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*")
	return regexp.MustCompile("^" + quoted + "$").MatchString(tag), nil
}
