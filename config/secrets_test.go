package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The MQTT password comes from mqtt.password, else mqtt.password_file,
// else the systemd credential mqtt_password; a named file that cannot be
// read is an error, an absent credential is no password.
func TestMQTTPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	creds := filepath.Join(dir, "creds")
	os.Mkdir(creds, 0o700)
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	for _, tc := range []struct {
		m    MQTT
		cred string
		want string
		err  bool
	}{
		{MQTT{Password: "inline"}, "", "inline", false},
		{MQTT{PasswordFile: file}, "", "from-file", false},
		{MQTT{}, "from-credential\n", "from-credential", false},
		{MQTT{}, "", "", false},
		{MQTT{PasswordFile: filepath.Join(dir, "missing")}, "", "", true},
	} {
		os.Remove(filepath.Join(creds, "mqtt_password"))
		if tc.cred != "" {
			os.WriteFile(filepath.Join(creds, "mqtt_password"), []byte(tc.cred), 0o600)
		}
		got, err := tc.m.ReadPassword()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%+v cred %q: %q %v, want %q (error %v)", tc.m, tc.cred, got, err, tc.want, tc.err)
		}
	}
}

// http.token_file: the token from a file (a systemd credential), the
// newline cut; a missing or empty file is an error naming it.
func TestHTTPTokenFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "http_token")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	for _, tc := range []struct {
		h    HTTP
		want string
		err  string
	}{
		{HTTP{Token: "inline"}, "inline", ""},
		{HTTP{TokenFile: file}, "from-file", ""},
		{HTTP{}, "", ""},
		{HTTP{TokenFile: filepath.Join(dir, "missing")}, "", "missing"},
		{HTTP{TokenFile: filepath.Join(dir, "empty")}, "", "empty"},
	} {
		got, err := tc.h.ReadToken()
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: %q %v, want %q (error %q)", tc.h, got, err, tc.want, tc.err)
		}
	}
}
