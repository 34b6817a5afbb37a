package config

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lagship/lagship/sources"
	"github.com/lagship/lagship/sources/all"
)

// Load reads and validates the config file at path. Environment variables are
// read with os.LookupEnv.
func Load(path string) (*Config, error) {
	return LoadWith(path, os.LookupEnv)
}

// LoadWith is Load with a custom environment lookup.
func LoadWith(path string, lookup func(string) (string, bool)) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, b, lookup)
}

// Parse parses and validates a config whose text is b; name is used in
// error messages. Mirrors may name lagship's own methods (sources/all).
func Parse(name string, b []byte, lookup func(string) (string, bool)) (*Config, error) {
	return ParseWith(name, b, lookup, all.Methods)
}

// ParseWith is Parse with the methods of reg.
func ParseWith(name string, b []byte, lookup func(string) (string, bool), reg sources.Registry) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	p := &parser{file: name, methods: reg}
	// ${VAR} may stand where YAML does not allow '{' (a flow mapping such
	// as sasl: {password: ${PW}}), so references are swapped for plain
	// placeholders before parsing and expanded in scalar values after it.
	// Values are never pasted into the YAML text: a secret with ': ' or '#'
	// in it stays one string.
	text, marker := protectVars(b)
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(text))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errors{{File: name, Msg: "the file is empty"}}
		}
		return nil, p.yamlErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Errors{{File: name, Line: extra.Line, Msg: "more than one YAML document; lagship reads one"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{File: name, Line: root.Line, Msg: "the top level must be a mapping (interval, elasticsearch, clusters, mirrors)"}}
	}
	p.root = root
	p.expand(root, "", marker, lookup)
	p.known(root, reflect.TypeOf(Config{}), "")
	var c Config
	if err := root.Decode(&c); err != nil {
		for _, e := range p.yamlErr(err).(Errors) {
			p.errs = append(p.errs, e)
		}
		return nil, p.finish()
	}
	c.File = name
	c.Methods = reg
	if !p.decodeSettings(root, &c) {
		return nil, p.finish()
	}
	p.interval = c.Interval // before defaults: an explicit 0s is an error
	c.setDefaults()
	p.validate(&c)
	if err := p.finish(); err != nil {
		return nil, err
	}
	return &c, nil
}

// finish names the field of errors that only know their line, sorts them by
// line and returns them (nil when there are none).
func (p *parser) finish() error {
	if len(p.errs) == 0 {
		return nil
	}
	for _, e := range p.errs {
		if e.Line > 0 && e.Field == "" && p.root != nil {
			e.Field = pathAtLine(p.root, e.Line, "")
		}
	}
	p.errs = p.dropConsequences(p.errs)
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	return p.errs
}

// dropConsequences keeps one error per cause: a value whose ${VAR} is not
// set is unknown, not empty, so what validation says of the emptiness it
// decoded to is not a second problem. Dropped are errors about the value
// itself or inside it, errors about the mapping that holds it (checks
// across its keys: "username and password go together", "name is
// required"), and decoder errors on its line that name it only coarsely.
// They come back, if still true, once the variable is set.
func (p *parser) dropConsequences(errs Errors) Errors {
	if len(p.unset) == 0 {
		return errs
	}
	isUnset := map[*Error]bool{}
	for _, u := range p.unset {
		isUnset[u] = true
	}
	consequence := func(e *Error) bool {
		if isUnset[e] {
			return false
		}
		for _, u := range p.unset {
			parent := parentPath(u.Field)
			// A check across the mapping's keys is a consequence only
			// when it names the unset key ("username and password go
			// together" for an unset password); "topics is required"
			// beside an unset name is a problem of its own.
			key := strings.TrimPrefix(u.Field[len(parent):], ".")
			acrossKeys := parent != "" && e.Field == parent
			if within(u.Field, e.Field) || (acrossKeys && mentions(e.Msg, key)) || (!acrossKeys && e.Line == u.Line && within(e.Field, u.Field)) {
				return true
			}
		}
		return false
	}
	out := errs[:0]
	for _, e := range errs {
		if !consequence(e) {
			out = append(out, e)
		}
	}
	return out
}

// within reports whether field is path or lies inside it.
func within(path, field string) bool {
	return field == path || strings.HasPrefix(field, path+".") || strings.HasPrefix(field, path+"[")
}

// mentions reports whether msg names key as a word.
func mentions(msg, key string) bool {
	if key == "" {
		return true
	}
	for i := 0; ; {
		j := strings.Index(msg[i:], key)
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isWordByte(msg[j-1])
		after := j+len(key) == len(msg) || !isWordByte(msg[j+len(key)])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// parentPath is the mapping or list holding field: mirrors[0].ssh for
// mirrors[0].ssh.host, mirrors[0].topics for mirrors[0].topics[2].
func parentPath(field string) string {
	i := strings.LastIndexAny(field, ".[")
	if i < 0 {
		return ""
	}
	return field[:i]
}

type parser struct {
	file string
	root *yaml.Node
	errs Errors
	// unset are the errors about unset ${VAR}s; see dropConsequences.
	unset    Errors
	methods  sources.Registry
	interval Duration // the file's interval as written
}

// methodOf is the method a mirror's mapping names (the registry's first
// when it names none).
func (p *parser) methodOf(n *yaml.Node) (sources.Method, string, bool) {
	name := ""
	if v := mapValue(n, "method"); v != nil {
		name = v.Value
	}
	if name == "" && len(p.methods) > 0 {
		return p.methods[0], p.methods[0].Name, true
	}
	m, ok := p.methods.Lookup(name)
	return m, name, ok
}

// decodeSettings decodes each mirror's mapping a second time, into its
// method's own settings type. It reports whether every mapping decoded.
func (p *parser) decodeSettings(root *yaml.Node, c *Config) bool {
	seq := mapValue(root, "mirrors")
	if seq != nil && seq.Kind == yaml.AliasNode {
		seq = seq.Alias
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return true
	}
	ok := true
	for i := range c.Mirrors {
		if i >= len(seq.Content) {
			break
		}
		n := seq.Content[i]
		m, _, known := p.methodOf(n)
		if !known {
			continue // reported by validate
		}
		s := m.New()
		if err := n.Decode(s); err != nil {
			for _, e := range p.yamlErr(err).(Errors) {
				p.errs = append(p.errs, e)
			}
			ok = false
			continue
		}
		c.Mirrors[i].Settings = s
	}
	return ok
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// fieldsOf lists the yaml keys of a struct type.
func fieldsOf(t reflect.Type) (map[string]reflect.StructField, []string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields := map[string]reflect.StructField{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		fields[tag] = f
		names = append(names, tag)
	}
	return fields, names
}

func (p *parser) add(line int, field, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErr turns yaml.v3 errors ("yaml: line 3: ...") into Errors with file:line.
func (p *parser) yamlErr(err error) error {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out Errors
	for _, m := range msgs {
		e := &Error{File: p.file, Msg: strings.TrimPrefix(m, "yaml: ")}
		if sm := lineRE.FindStringSubmatch(e.Msg); sm != nil {
			fmt.Sscanf(sm[1], "%d", &e.Line)
			e.Msg = sm[2]
		}
		e.Msg = strings.ReplaceAll(e.Msg, "config.", "")
		out = append(out, e)
	}
	return out
}

var varRE = regexp.MustCompile(`\$\$|\$\{([^}]*)\}`)
var varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// protectVars replaces every well-formed ${NAME} in the raw text with a
// placeholder made of letters, digits and '_', which YAML reads as part of a
// plain scalar anywhere. The placeholder carries a random marker so that it
// cannot collide with the file's own text.
func protectVars(b []byte) ([]byte, string) {
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	marker := "LAGSHIPVAR" + hex.EncodeToString(nonce[:])
	out := varRE.ReplaceAllFunc(b, func(m []byte) []byte {
		if string(m) == "$$" || !varNameRE.Match(m[2:len(m)-1]) {
			return m
		}
		return []byte(marker + "_" + string(m[2:len(m)-1]) + "_" + marker)
	})
	return out, marker
}

// expand replaces variable references in every scalar value: the
// placeholders of protectVars and any ${NAME} left as is (in quoted
// scalars). $$ is a literal $. An expanded plain scalar is resolved again, so
// `port: ${SSH_PORT}` is an int.
func (p *parser) expand(n *yaml.Node, path, marker string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			p.expand(c, path, marker, lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.expand(c, fmt.Sprintf("%s[%d]", path, i), marker, lookup)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			p.expand(n.Content[i], join(path, n.Content[i-1].Value), marker, lookup)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") && !strings.Contains(n.Value, marker) {
			return
		}
		placeholder := regexp.MustCompile(marker + `_([A-Za-z0-9_]+?)_` + marker)
		v := placeholder.ReplaceAllString(n.Value, "$${$1}")
		changed := false
		n.Value = varRE.ReplaceAllStringFunc(v, func(m string) string {
			changed = true
			if m == "$$" {
				return "$"
			}
			name := m[2 : len(m)-1]
			if !varNameRE.MatchString(name) {
				p.add(n.Line, "", "invalid variable reference %q (use ${NAME} with letters, digits and _; write $$ for a literal $)", m)
				return m
			}
			val, ok := lookup(name)
			if !ok {
				p.add(n.Line, path, "environment variable %s is not set (referenced as ${%s})", name, name)
				p.unset = append(p.unset, p.errs[len(p.errs)-1])
				return ""
			}
			return val
		})
		if changed && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) == 0 {
			n.Tag = "" // resolve again: ${PORT} may be an int
		}
	}
}

// known reports keys that do not exist in the target type, recursively.
func (p *parser) known(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t.Kind() == reflect.Struct && t.NumField() == 1 && t.Field(0).Anonymous {
		// A wrapper with its own UnmarshalYAML (ssh's jump_host).
		if n.Kind == yaml.MappingNode {
			p.known(n, t.Field(0).Type, path)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type error
		}
		fields, names := fieldsOf(t)
		var method string
		var others map[string]string // key -> the method that uses it
		if t == reflect.TypeOf(Mirror{}) {
			fields, names, method, others = p.mirrorFields(n, fields, names)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				p.known(v, t, path)
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				if other, used := others[k.Value]; used && method != "" {
					p.add(k.Line, join(path, k.Value), "is not used by method %s (it is a key of method %s)", method, other)
					continue
				}
				p.add(k.Line, join(path, k.Value), "unknown key (known keys here: %s)", strings.Join(names, ", "))
				continue
			}
			p.known(v, f.Type, join(path, k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			p.known(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// mirrorFields adds the keys of the mirror's method to the common ones, and
// lists the keys other methods use, so that a key of another method is
// reported as unused rather than unknown.
func (p *parser) mirrorFields(n *yaml.Node, fields map[string]reflect.StructField, names []string) (map[string]reflect.StructField, []string, string, map[string]string) {
	m, name, ok := p.methodOf(n)
	others := map[string]string{}
	for _, o := range p.methods {
		if ok && o.Name == m.Name {
			continue
		}
		_, keys := fieldsOf(reflect.TypeOf(o.New()))
		for _, k := range keys {
			if _, set := others[k]; !set {
				others[k] = o.Name
			}
		}
	}
	if !ok {
		// The method is reported by validate; its keys cannot be judged.
		all := make(map[string]reflect.StructField, len(fields))
		for k, f := range fields {
			all[k] = f
		}
		for _, o := range p.methods {
			of, _ := fieldsOf(reflect.TypeOf(o.New()))
			for k, f := range of {
				all[k] = f
			}
		}
		return all, names, "", nil
	}
	all := make(map[string]reflect.StructField, len(fields))
	for k, f := range fields {
		all[k] = f
	}
	mf, mnames := fieldsOf(reflect.TypeOf(m.New()))
	for k, f := range mf {
		all[k] = f
		delete(others, k)
	}
	return all, append(append([]string{}, names...), mnames...), name, others
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// line returns the line of the node at path (keys and indexes), falling back
// to the nearest existing parent so an error about a missing key points at
// the mapping that lacks it.
func (p *parser) line(path ...any) int {
	n := p.root
	line := 0
	if n != nil {
		line = n.Line
	}
	for _, step := range path {
		if n == nil {
			break
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						next = n.Content[i+1]
						if next.Kind == yaml.MappingNode || next.Kind == yaml.SequenceNode {
							// point at the key line for blocks
							line = n.Content[i].Line
						}
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s >= 0 && s < len(n.Content) {
				next = n.Content[s]
			}
		}
		if next == nil {
			break
		}
		n = next
		if n.Kind == yaml.ScalarNode || n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
			line = n.Line
		} else if line == 0 || n.Kind == yaml.MappingNode {
			line = n.Line
		}
	}
	return line
}

// pathString renders a path as mirrors[0].topics[2].
func pathString(path ...any) string {
	var b strings.Builder
	for _, s := range path {
		switch v := s.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(v)
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		}
	}
	return b.String()
}

// errAt adds an error about the field at path.
func (p *parser) errAt(path []any, format string, args ...any) {
	p.add(p.line(path...), pathString(path...), format, args...)
}

// pathAtLine finds the field whose value starts at line, for decoder errors
// that only know the line.
func pathAtLine(n *yaml.Node, line int, path string) string {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := pathAtLine(c, line, path); p != "" {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			if v.Line == line && (v.Kind == yaml.ScalarNode || k.Line == line || v.Style&yaml.FlowStyle != 0) {
				return kp
			}
			if p := pathAtLine(v, line, kp); p != "" {
				return p
			}
			if k.Line == line {
				return kp
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode && c.Line == line {
				return ip
			}
			if p := pathAtLine(c, line, ip); p != "" {
				return p
			}
		}
	}
	return ""
}
