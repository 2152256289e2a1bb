package config_test

import (
	"errors"
	"fmt"

	"github.com/sorterd/sorterd/config"
)

// Parse reads a configuration; what the file leaves out takes the
// defaults (config.Default).
func ExampleParse() {
	c, err := config.Parse([]byte(`
station: line1
model:
  path: /usr/share/sorterd/garbage.tflite
bins:
  - {name: glass, labels: [glass], pin: GPIO5}
  - {name: reject, labels: [trash], pin: GPIO6, reject: true}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Station, len(c.Bins), "bins; reject bin:", c.Bins[1].Name)
	fmt.Println("broker:", c.MQTT.Broker, "topics:", c.MQTT.TopicPrefix+"/"+c.Station+"/…")
	// Output:
	// line1 2 bins; reject bin: reject
	// broker: tcp://127.0.0.1:1883 topics: sorterd/line1/…
}

// Every invalid field is reported at once, each with its key and line.
func ExampleParse_errors() {
	_, err := config.Parse([]byte(`
station: "line 1"
camera:
  fps: 0
`))
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Println(e.Error())
		}
	}
	// Output:
	// station: must be letters, digits, - or _ (it is part of MQTT topics) (line 2)
	// camera.fps: must be > 0 (line 4)
	// bins: at least one bin is needed
}
