package schema

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// overrideKey is the only top-level key of an override file.
const overrideKey = "event_types"

// maxOverrideFileSize bounds the override file, which lists at most a few thousand event types
// (Okta's catalog has about 1,300).
const maxOverrideFileSize = 1 << 20

// eventTypePattern matches Okta event types: two or more dot-separated words of lowercase
// letters, digits and underscores, the first word starting with a letter.
var eventTypePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$`)

// Load returns Default plus the overrides of the file at path. The file is YAML (.yaml, .yml)
// or JSON (.json), both read with the YAML parser because JSON is a subset of YAML 1.2. It has
// one top-level key, event_types, a mapping from event type to a list of schema names:
//
//	event_types:
//	  system.api_token.revoke: [cloudaudit]
//	  user.session.start: [auth, generic]
//	  policy.evaluate_sign_on: []   # no schema, so records get "unmapped"
//
// Each entry replaces the default entry of its event type, and the order of the list does not
// matter. Valid schema names are auth, cloudaudit and generic. Errors name the file, the line,
// the invalid value and the fix.
func Load(path string) (*Map, error) {
	parser, err := parserName(path)
	if err != nil {
		return nil, err
	}

	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("schema: %s is empty: add %q with a mapping of event type to "+
			"schemas, or remove schema_map_file", path, overrideKey+":")
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("schema: %s is not valid %s (read with the YAML parser): %v",
			path, parser, err)
	}

	overrides, err := parseOverrides(path, &doc)
	if err != nil {
		return nil, err
	}

	m := &Map{schemas: maps.Clone(defaultMap.schemas)}
	for eventType, schemas := range overrides {
		m.schemas[eventType] = schemas
	}
	return m, nil
}

// parserName returns the file format named by the extension of path.
func parserName(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return "YAML", nil
	case ".json":
		return "JSON", nil
	}
	return "", fmt.Errorf("schema: %s has extension %q: use .yaml, .yml or .json", path,
		filepath.Ext(path))
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schema: open override file: %w", err)
	}
	defer f.Close()

	data, err := io.ReadAll(io.LimitReader(f, maxOverrideFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("schema: read override file: %w", err)
	}
	if len(data) > maxOverrideFileSize {
		return nil, fmt.Errorf("schema: %s is larger than %d bytes: list only the event types "+
			"that differ from the default table", path, maxOverrideFileSize)
	}
	return data, nil
}

// parseOverrides checks the parsed file and returns its event types with ordered schemas.
func parseOverrides(path string, doc *yaml.Node) (map[string][]string, error) {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("schema: %s contains no document: add %q", path, overrideKey+":")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("schema: %s line %d: top level is %s: it must be a mapping "+
			"with the key %q", path, root.Line, kindName(root), overrideKey)
	}

	var table *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		key, value := root.Content[i], root.Content[i+1]
		if key.Value != overrideKey {
			return nil, fmt.Errorf("schema: %s line %d: unknown key %q: the only valid "+
				"top-level key is %q", path, key.Line, key.Value, overrideKey)
		}
		if table != nil {
			return nil, fmt.Errorf("schema: %s line %d: duplicate key %q: merge both "+
				"mappings into one", path, key.Line, overrideKey)
		}
		table = value
	}
	if table == nil {
		return nil, fmt.Errorf("schema: %s: missing key %q", path, overrideKey)
	}
	if table.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("schema: %s line %d: %q is %s: it must be a mapping of "+
			"event type to a list of schemas", path, table.Line, overrideKey, kindName(table))
	}

	overrides := make(map[string][]string, len(table.Content)/2)
	lines := make(map[string]int, len(table.Content)/2)
	for i := 0; i+1 < len(table.Content); i += 2 {
		key, value := table.Content[i], table.Content[i+1]
		eventType := key.Value
		if key.Kind != yaml.ScalarNode || !eventTypePattern.MatchString(eventType) {
			return nil, fmt.Errorf("schema: %s line %d: invalid event type %q: an Okta event "+
				"type is lowercase dot-separated words, for example user.session.start",
				path, key.Line, eventType)
		}
		if first, ok := lines[eventType]; ok {
			return nil, fmt.Errorf("schema: %s line %d: duplicate event type %q (first at "+
				"line %d): keep one entry", path, key.Line, eventType, first)
		}
		lines[eventType] = key.Line

		schemas, err := parseSchemaList(path, eventType, value)
		if err != nil {
			return nil, err
		}
		overrides[eventType] = schemas
	}
	return overrides, nil
}

// parseSchemaList checks the list of one event type and returns it in canonical order.
func parseSchemaList(path, eventType string, list *yaml.Node) ([]string, error) {
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("schema: %s line %d: event type %q has %s: it must be a "+
			"list of schemas, for example [auth] or [] for none", path, list.Line, eventType,
			kindName(list))
	}

	set := make(map[string]bool, len(list.Content))
	for _, item := range list.Content {
		name := item.Value
		if item.Kind != yaml.ScalarNode || !slices.Contains(mappedSchemas, name) {
			return nil, fmt.Errorf("schema: %s line %d: event type %q: unknown schema %q: "+
				"valid schemas are %s, and [] maps the event type to %s", path, item.Line,
				eventType, name, strings.Join(mappedSchemas, ", "), Unmapped)
		}
		if set[name] {
			return nil, fmt.Errorf("schema: %s line %d: event type %q lists schema %q twice: "+
				"keep one", path, item.Line, eventType, name)
		}
		set[name] = true
	}
	return orderedSchemas(set), nil
}

// kindName returns the YAML term for the kind of node with its article, for error messages.
func kindName(node *yaml.Node) string {
	switch node.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if node.Tag == "!!null" {
			return "a null value"
		}
		return fmt.Sprintf("the scalar %q", node.Value)
	}
	return "a document"
}
