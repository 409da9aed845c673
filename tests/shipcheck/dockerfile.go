// Package shipcheck checks, without a container engine, the Dockerfile, the Kubernetes
// manifests and the edge compose file in docker/. They are compared with the pipeline in
// conf/ and the Makefile target CI builds, and the built plugin's glibc versions are checked.
package shipcheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Instruction is one Dockerfile instruction with its continuation lines joined.
type Instruction struct {
	Line    int    // line number of the instruction's first line
	Command string // upper case, such as COPY
	Flags   map[string]string
	Args    []string // shell-form words, or the elements of an exec-form JSON array
	Raw     string   // the text after the command and its flags
	Exec    bool     // the arguments were an exec-form JSON array
}

// Stage is one FROM section of a Dockerfile.
type Stage struct {
	Image        string // the FROM image with build arguments replaced by their defaults
	Name         string // the AS name, or ""
	Instructions []Instruction
}

var argReference = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// ParseDockerfile reads a Dockerfile into its stages. It handles comments, backslash
// continuations, --flags, exec-form arrays and ARG defaults in FROM lines, which is what
// docker/Dockerfile uses; heredocs and escape directives are rejected.
func ParseDockerfile(path string) ([]Stage, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()

	var stages []Stage
	args := map[string]string{}
	scanner := bufio.NewScanner(file)
	lineNo, start := 0, 0
	var text strings.Builder
	for scanner.Scan() {
		lineNo++
		line := strings.TrimSpace(scanner.Text())
		if strings.HasPrefix(line, "#") || (line == "" && text.Len() == 0) {
			continue
		}
		if text.Len() == 0 {
			start = lineNo
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			text.WriteString(cont + " ")
			continue
		}
		text.WriteString(line)
		in, err := parseInstruction(start, text.String())
		text.Reset()
		if err != nil {
			return nil, fmt.Errorf("shipcheck: %s:%d: %w", path, start, err)
		}
		switch {
		case in.Command == "ARG" && len(stages) == 0:
			name, value, _ := strings.Cut(in.Raw, "=")
			args[name] = value
		case in.Command == "FROM":
			stage := Stage{Image: expandArgs(in.Args[0], args)}
			if len(in.Args) == 3 && strings.EqualFold(in.Args[1], "AS") {
				stage.Name = in.Args[2]
			}
			stages = append(stages, stage)
		case len(stages) == 0:
			return nil, fmt.Errorf("shipcheck: %s:%d: %s before the first FROM", path, start,
				in.Command)
		default:
			last := &stages[len(stages)-1]
			last.Instructions = append(last.Instructions, in)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if text.Len() > 0 {
		return nil, fmt.Errorf("shipcheck: %s: the last line ends with a backslash", path)
	}
	return stages, nil
}

func parseInstruction(line int, text string) (Instruction, error) {
	command, rest, _ := strings.Cut(text, " ")
	in := Instruction{Line: line, Command: strings.ToUpper(command), Flags: map[string]string{}}
	rest = strings.TrimSpace(rest)
	if strings.Contains(rest, "<<") {
		return in, fmt.Errorf("heredoc in %s is not supported by this check", in.Command)
	}
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		name, value, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		in.Flags[name] = value
		rest = strings.TrimSpace(after)
	}
	in.Raw = rest
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &in.Args); err != nil {
			return in, fmt.Errorf("%s: invalid exec-form array %s: %v", in.Command, rest, err)
		}
		in.Exec = true
		return in, nil
	}
	in.Args = strings.Fields(rest)
	if len(in.Args) == 0 {
		return in, fmt.Errorf("%s without arguments", in.Command)
	}
	return in, nil
}

func expandArgs(s string, args map[string]string) string {
	return argReference.ReplaceAllStringFunc(s, func(ref string) string {
		m := argReference.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if v, ok := args[name]; ok {
			return v
		}
		return ref
	})
}

// Find returns the instructions of s with the given command, in order.
func (s Stage) Find(command string) []Instruction {
	var out []Instruction
	for _, in := range s.Instructions {
		if in.Command == command {
			out = append(out, in)
		}
	}
	return out
}

// Env returns the variables the stage's ENV instructions set, in KEY=VALUE form only.
func (s Stage) Env() map[string]string {
	env := map[string]string{}
	for _, in := range s.Find("ENV") {
		for _, word := range in.Args {
			if key, value, ok := strings.Cut(word, "="); ok {
				env[key] = value
			}
		}
	}
	return env
}
