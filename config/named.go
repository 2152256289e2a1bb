package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The settings package's choices (trigger.mode, decision.vote, ...) are
// typed and read their names with UnmarshalText. yaml stops the whole
// file at the first such error, without its line; so the sections that
// hold choices read them here, and a name not in the table leaves its
// field invalid for validate to report with the field, the name and the
// line, beside the file's other problems.

// decodeNamed decodes the mapping n into v (a pointer to a section's
// struct, as a type without methods), as strictly as the file's decoder
// does: a key v has no field for is an unknown key, with its line.
func decodeNamed(n *yaml.Node, v any, section string) error {
	if n.Kind != yaml.MappingNode {
		return n.Decode(v) // yaml's own error for a section that is no mapping
	}
	if dup := duplicateKeys(n); dup != nil {
		return &yaml.TypeError{Errors: dup}
	}
	rv := reflect.ValueOf(v).Elem()
	fields := map[string]reflect.Value{}
	for i := range rv.NumField() {
		fields[yamlName(rv.Type().Field(i))] = rv.Field(i)
	}
	rest := *n
	rest.Content = nil
	var unknown []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := n.Content[i], n.Content[i+1]
		f, ok := fields[key.Value]
		if !ok {
			// The decoder's own wording, which decode turns into "unknown key".
			unknown = append(unknown, fmt.Sprintf("line %d: field %s not found in type config.%s", key.Line, key.Value, section))
			continue
		}
		if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok && val.Kind == yaml.ScalarNode {
			if u.UnmarshalText([]byte(val.Value)) != nil {
				invalidate(f)
			}
			continue
		}
		rest.Content = append(rest.Content, key, val)
	}
	err := rest.Decode(v)
	if len(unknown) == 0 {
		return err
	}
	if te, ok := err.(*yaml.TypeError); ok {
		unknown = append(unknown, te.Errors...)
	} else if err != nil {
		return err
	}
	return &yaml.TypeError{Errors: unknown}
}

// duplicateKeys are the decoder's errors for keys given twice in n.
func duplicateKeys(n *yaml.Node) []string {
	var dup []string
	for i := 0; i < len(n.Content); i += 2 {
		for j := i + 2; j < len(n.Content); j += 2 {
			if a, b := n.Content[i], n.Content[j]; a.Kind == b.Kind && a.Value == b.Value {
				dup = append(dup, fmt.Sprintf("line %d: mapping key %#v already defined at line %d", b.Line, b.Value, a.Line))
			}
		}
	}
	return dup
}

// invalidate sets a choice to a value outside its name table.
func invalidate(f reflect.Value) {
	switch {
	case f.CanUint():
		f.SetUint(1<<f.Type().Bits() - 1)
	case f.CanInt():
		f.SetInt(-1)
	}
}

// choice is a settings type as validate sees it.
type choice interface {
	fmt.Stringer
	Valid() bool
}

// named reports a choice that is not one of names, with the text the
// file (or the code) gave it.
func (k *checker) named(field string, v choice, names []string) {
	if v.Valid() {
		return
	}
	text := v.String()
	if t, ok := k.given[field]; ok {
		text = t
	} else if n := valueAt(k.root, field); n != nil {
		text = n.Value
	}
	k.bad(field, "%q is not one of %s", text, strings.Join(names, ", "))
}

// valueAt is the value node at a dotted path of mapping keys ("trigger.mode"),
// nil when the file has none.
func valueAt(root *yaml.Node, path string) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, part := range strings.Split(path, ".") {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}
