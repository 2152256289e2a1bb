package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/sorterd/sorterd/settings"
	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every configuration variable.
const EnvPrefix = "SORTERD_"

// ParseEnv is Parse with SORTERD_<SECTION>_<KEY> (or SORTERD_<KEY> for a
// top-level key) from env applied over the file, before validation:
// SORTERD_MQTT_BROKER=tcp://broker:1883, SORTERD_HTTP_LISTEN=:8080,
// SORTERD_STATION=line2. Values are written as in the YAML file (a
// duration 2s, a bool true, a list [flip, rot180]). A variable that names
// a section but no key of it is an error naming the variable; variables
// naming no section (SORTERD_SHARED, used by tests) are not ours and are
// left alone. The bins list cannot be set this way.
func ParseEnv(b []byte, env []string) (Config, error) {
	c := Default()
	root, err := decode(b, &c)
	if err != nil {
		return c, err
	}
	set, given, err := applyEnv(&c, env)
	if err != nil {
		return c, err
	}
	c.fillDefaults()
	if es := c.validate(root, given); len(es) > 0 {
		// A value from the environment is not on the file's line.
		for i, e := range es {
			if name, ok := set[e.Field]; ok {
				es[i].Line = 0
				es[i].Msg += " (from " + name + ")"
			}
		}
		return c, es
	}
	return c, nil
}

// applyEnv sets the fields env names (see ParseEnv) and returns them:
// field path → variable, and field path → the value given.
func applyEnv(c *Config, env []string) (set, given map[string]string, err error) {
	set, given = map[string]string{}, map[string]string{}
	sort.Strings(env) // errors in a stable order
	var errs []error
	v := reflect.ValueOf(c).Elem()
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		rest := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
		f, path, err := envField(v, rest)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if !f.IsValid() {
			continue // not a section of ours
		}
		if err := setField(f, val); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", name, path, err))
			continue
		}
		set[path], given[path] = name, val
	}
	return set, given, errors.Join(errs...)
}

// envField finds the field rest (section_key or key) names; an invalid
// Value when rest names no section and no top-level key.
func envField(v reflect.Value, rest string) (reflect.Value, string, error) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		tag := yamlName(t.Field(i))
		if tag == rest && t.Field(i).Type.Kind() != reflect.Struct {
			if t.Field(i).Type.Kind() == reflect.Slice && t.Field(i).Type.Elem().Kind() == reflect.Struct {
				return reflect.Value{}, "", fmt.Errorf("%s is a list of sections; set it in the file", tag)
			}
			return v.Field(i), tag, nil
		}
	}
	for i := 0; i < t.NumField(); i++ {
		sec := yamlName(t.Field(i))
		if t.Field(i).Type.Kind() != reflect.Struct || !strings.HasPrefix(rest, sec+"_") {
			continue
		}
		key := strings.TrimPrefix(rest, sec+"_")
		st := t.Field(i).Type
		var keys []string
		for j := 0; j < st.NumField(); j++ {
			k := yamlName(st.Field(j))
			if k == key && st.Field(j).Type.Kind() != reflect.Struct {
				return v.Field(i).Field(j), sec + "." + key, nil
			}
			if st.Field(j).Type.Kind() != reflect.Struct {
				keys = append(keys, k)
			}
		}
		return reflect.Value{}, "", fmt.Errorf("%s has no key %q (keys: %s)", sec, key, strings.Join(keys, ", "))
	}
	return reflect.Value{}, "", nil
}

func yamlName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return n
}

// setField sets f from val: a string as it is, anything else parsed as YAML.
func setField(f reflect.Value, val string) error {
	if f.Kind() == reflect.String {
		f.SetString(val)
		return nil
	}
	p := reflect.New(f.Type())
	if u, ok := p.Interface().(encoding.TextUnmarshaler); ok {
		// A choice of the settings package, read by its name; an unknown
		// one is left invalid for validate to report, as from the file.
		if err := u.UnmarshalText([]byte(val)); err != nil {
			var ne *settings.NameError
			if !errors.As(err, &ne) {
				return err
			}
			invalidate(f)
			return nil
		}
		f.Set(p.Elem())
		return nil
	}
	if err := yaml.Unmarshal([]byte(val), p.Interface()); err != nil {
		return fmt.Errorf("%q is not a valid %s: %w", val, typeName(f.Type()), err)
	}
	f.Set(p.Elem())
	return nil
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool (true or false)"
	case reflect.Int, reflect.Int64:
		if t.Name() == "Duration" {
			return "duration (like 250ms or 2s)"
		}
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list (like [a, b])"
	}
	return t.String()
}
