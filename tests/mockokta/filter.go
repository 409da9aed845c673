package mockokta

import (
	"fmt"
	"strings"
	"unicode"

	jsoniter "github.com/json-iterator/go"
)

// The filter and q parameters are implemented for a subset of Okta's syntax:
//
//   - filter: comparisons "attr op value" with the operators eq, ne, sw, co and ew on string,
//     number, boolean and null values, "attr pr", joined by and/or (and binds tighter) and
//     grouped with parentheses. Attribute names are case-sensitive dotted paths into the
//     event; a path through an array matches when any element matches. String comparison is
//     case-sensitive. Okta's not, gt, ge, lt and le are rejected here, so a client that uses
//     them fails against the mock although Okta would accept them.
//   - q: up to 10 keywords of up to 40 characters, each of which must equal, ignoring case, a
//     string value of the event or a part of one split at spaces and hyphens.

const (
	maxKeywords      = 10
	maxKeywordLength = 40
)

// buildMatcher returns a predicate for the filter and q parameters.
func buildMatcher(filter, q string) (func(*storedEvent) bool, *queryRejection) {
	var expr filterExpr
	if strings.TrimSpace(filter) != "" {
		var err error
		expr, err = parseFilter(filter)
		if err != nil {
			// NOTE: Okta's errorSummary for a bad filter is not recorded; E0000031 is its
			// code for an operator that does not fit the attribute.
			return nil, badQuery(ReasonBadFilter, "E0000031",
				"Invalid search criteria: "+err.Error())
		}
	}
	keywords, rej := parseKeywords(q)
	if rej != nil {
		return nil, rej
	}
	if expr == nil && keywords == nil {
		return func(*storedEvent) bool { return true }, nil
	}
	return func(ev *storedEvent) bool {
		var doc any
		if err := storeJSON.Unmarshal(ev.raw, &doc); err != nil {
			return false
		}
		if expr != nil && !expr.eval(doc) {
			return false
		}
		return keywords == nil || matchKeywords(doc, keywords)
	}, nil
}

func parseKeywords(q string) ([]string, *queryRejection) {
	words := strings.Fields(q)
	if len(words) == 0 {
		return nil, nil
	}
	if len(words) > maxKeywords {
		return nil, badQuery(ReasonBadQuery, "E0000001",
			"Api validation failed: 'q': The search query has more than 10 keywords.")
	}
	for i, w := range words {
		if len([]rune(w)) > maxKeywordLength {
			return nil, badQuery(ReasonBadQuery, "E0000001",
				"Api validation failed: 'q': A keyword is longer than 40 characters.")
		}
		words[i] = strings.ToLower(w)
	}
	return words, nil
}

func matchKeywords(doc any, keywords []string) bool {
	terms := make(map[string]struct{})
	collectTerms(doc, terms)
	for _, k := range keywords {
		if _, ok := terms[k]; !ok {
			return false
		}
	}
	return true
}

func collectTerms(v any, terms map[string]struct{}) {
	switch v := v.(type) {
	case map[string]any:
		for _, child := range v {
			collectTerms(child, terms)
		}
	case []any:
		for _, child := range v {
			collectTerms(child, terms)
		}
	case string:
		lower := strings.ToLower(v)
		terms[lower] = struct{}{}
		for _, word := range strings.Fields(lower) {
			terms[word] = struct{}{}
			for _, part := range strings.Split(word, "-") {
				terms[part] = struct{}{}
			}
		}
	}
}

// filterExpr is a parsed filter expression.
type filterExpr interface {
	eval(doc any) bool
}

type logicalExpr struct {
	and         bool
	left, right filterExpr
}

func (e *logicalExpr) eval(doc any) bool {
	if e.and {
		return e.left.eval(doc) && e.right.eval(doc)
	}
	return e.left.eval(doc) || e.right.eval(doc)
}

type comparison struct {
	path  []string
	op    string
	value any // string, float64, bool or nil
}

func (c *comparison) eval(doc any) bool {
	return anyValue(doc, c.path, func(v any) bool { return c.test(v) })
}

func (c *comparison) test(v any) bool {
	switch c.op {
	case "pr":
		return v != nil
	case "eq":
		return v == c.value
	case "ne":
		return v != c.value
	}
	s, ok1 := v.(string)
	want, ok2 := c.value.(string)
	if !ok1 || !ok2 {
		return false
	}
	switch c.op {
	case "sw":
		return strings.HasPrefix(s, want)
	case "ew":
		return strings.HasSuffix(s, want)
	default: // co
		return strings.Contains(s, want)
	}
}

// anyValue reports whether test holds for a value at path, descending into every array
// element on the way. A missing value is tested as nil.
func anyValue(v any, path []string, test func(any) bool) bool {
	if arr, ok := v.([]any); ok {
		for _, el := range arr {
			if anyValue(el, path, test) {
				return true
			}
		}
		return false
	}
	if len(path) == 0 {
		return test(v)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return test(nil)
	}
	return anyValue(obj[path[0]], path[1:], test)
}

// filterParser is a recursive-descent parser over the tokens of a filter expression.
type filterParser struct {
	tokens []string
	pos    int
}

func parseFilter(src string) (filterExpr, error) {
	tokens, err := tokenizeFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{tokens: tokens}
	expr, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.tokens) {
		return nil, fmt.Errorf("unexpected %q", p.tokens[p.pos])
	}
	return expr, nil
}

func (p *filterParser) peek() string {
	if p.pos < len(p.tokens) {
		return p.tokens[p.pos]
	}
	return ""
}

func (p *filterParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *filterParser) parseOr() (filterExpr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "or") {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &logicalExpr{left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) parseAnd() (filterExpr, error) {
	left, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	for strings.EqualFold(p.peek(), "and") {
		p.next()
		right, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		left = &logicalExpr{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *filterParser) parseTerm() (filterExpr, error) {
	tok := p.next()
	switch {
	case tok == "":
		return nil, fmt.Errorf("expression ends early")
	case tok == "(":
		expr, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if p.next() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		return expr, nil
	case strings.EqualFold(tok, "not"):
		return nil, fmt.Errorf("operator not is not supported by this server")
	}
	return p.parseComparison(tok)
}

func (p *filterParser) parseComparison(attr string) (filterExpr, error) {
	if !validAttribute(attr) {
		return nil, fmt.Errorf("invalid attribute %q", attr)
	}
	if attr == "published" {
		return nil, fmt.Errorf("attribute published cannot be filtered; use since and until")
	}
	op := strings.ToLower(p.next())
	switch op {
	case "pr":
		return &comparison{path: strings.Split(attr, "."), op: op}, nil
	case "eq", "ne", "sw", "co", "ew":
	case "gt", "ge", "lt", "le":
		return nil, fmt.Errorf("operator %s is not supported by this server", op)
	default:
		return nil, fmt.Errorf("invalid operator %q after %s", op, attr)
	}
	if op == "co" && (attr == "debugContext.debugData.url" ||
		attr == "debugContext.debugData.requestUri") {
		return nil, fmt.Errorf("operator co is not supported on %s", attr)
	}
	value, err := parseFilterValue(p.next())
	if err != nil {
		return nil, err
	}
	return &comparison{path: strings.Split(attr, "."), op: op, value: value}, nil
}

func validAttribute(attr string) bool {
	if attr == "" || attr[0] == '.' || attr[len(attr)-1] == '.' || strings.Contains(attr, "..") {
		return false
	}
	for _, r := range attr {
		if r != '.' && r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return false
		}
	}
	return unicode.IsLetter(rune(attr[0]))
}

func parseFilterValue(tok string) (any, error) {
	switch tok {
	case "":
		return nil, fmt.Errorf("missing value")
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	var v any
	if err := jsoniter.ConfigCompatibleWithStandardLibrary.UnmarshalFromString(tok, &v); err != nil {
		return nil, fmt.Errorf("invalid value %s", tok)
	}
	switch v.(type) {
	case string, float64:
		return v, nil
	}
	return nil, fmt.Errorf("invalid value %s", tok)
}

// tokenizeFilter splits a filter into parentheses, quoted strings (kept with their quotes
// and escapes) and words.
func tokenizeFilter(src string) ([]string, error) {
	var tokens []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			tokens = append(tokens, string(c))
			i++
		case c == '"':
			j := i + 1
			for ; j < len(src) && src[j] != '"'; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string")
			}
			tokens = append(tokens, src[i:j+1])
			i = j + 1
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t()\"", rune(src[j])) {
				j++
			}
			tokens = append(tokens, src[i:j])
			i = j
		}
	}
	return tokens, nil
}
