package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The secrets a configuration names, read at start: the MQTT password
// and the web page's token, each given inline, in a file, or (the
// password) as a systemd credential.

// ReadPassword is mqtt.password, or the content of mqtt.password_file, or
// of the systemd credential mqtt_password (LoadCredential=), in that
// order; a trailing newline is not part of it.
func (m MQTT) ReadPassword() (string, error) {
	path := m.PasswordFile
	if m.Password != "" {
		return m.Password, nil
	}
	if path == "" {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", nil
		}
		path = filepath.Join(dir, "mqtt_password")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("mqtt password: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ReadToken is http.token, or the content of http.token_file (a trailing
// newline is not part of it).
func (h HTTP) ReadToken() (string, error) {
	if h.Token != "" || h.TokenFile == "" {
		return h.Token, nil
	}
	b, err := os.ReadFile(h.TokenFile)
	if err != nil {
		return "", fmt.Errorf("http token: %w", err)
	}
	t := strings.TrimRight(string(b), "\r\n")
	if t == "" {
		return "", fmt.Errorf("http token: %s is empty", h.TokenFile)
	}
	return t, nil
}
