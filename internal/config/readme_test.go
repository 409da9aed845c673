package config

import (
	"os"
	"strings"
	"testing"
)

func TestReadmeTableMatchesOptions(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := MarkdownTable()
	if !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks the configuration table generated from Options; replace "+
			"its table with:\n%s", want)
	}
}
