package publish

import (
	"encoding/json"
	"fmt"
	"strings"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Home Assistant MQTT discovery: one device per station, with
//
//   - sensor: last item (label, with the event as attributes), items per
//     bin, reject rate (%), inference time (p50, ms);
//   - binary_sensor: paused;
//   - button: pause, resume, and one flap test per bin (each publishes
//     the command payload the cmd topic already takes);
//   - event: fires once per item (event_type sort or reject; label, bin,
//     score, action and id as attributes);
//   - image: the last item's crop, from the retained JPEG topic snapshot.
//
// Every config is retained. On each connection the publisher also reads
// back the retained configs under its own node id and empties every one
// it no longer announces (a removed bin, or discovery turned off), so
// Home Assistant drops those entities. It reads them at any depth under
// the node id: an older sorterd took bin names with "/" in them, which
// made topics one level too deep for Home Assistant (ignored) and for a
// one-level wildcard (never emptied).

// DiscoveryMessage is one retained discovery config.
type DiscoveryMessage struct {
	Component, Object string
	Topic             string
	Payload           []byte
}

func (o Options) nodeID() string { return "sorterd_" + o.Station }

func (o Options) topic(name string) string { return o.Prefix + "/" + o.Station + "/" + name }

// discoveryTopic is <discovery prefix>/<component>/sorterd_<station>/<object>/config.
func (o Options) discoveryTopic(component, object string) string {
	return fmt.Sprintf("%s/%s/%s/%s/config", o.DiscoveryPrefix, component, o.nodeID(), object)
}

// discoverySubscription matches every config this station may have
// announced, under any component and at any depth (a config topic ends
// in /config; discovery checks that).
func (o Options) discoverySubscription() string {
	return fmt.Sprintf("%s/+/%s/#", o.DiscoveryPrefix, o.nodeID())
}

// DeviceModel is the discovery device's model: what the device is. The
// classifier it runs is in its sw_version.
const DeviceModel = "sorterd waste-sorting station"

// swVersion is the device's sw_version: the daemon's version and the
// classifier model it runs ("1.2.3, model garbage.tflite 642c87e30504").
func (o Options) swVersion() string {
	switch {
	case o.Model == "":
		return o.Version
	case o.Version == "":
		return "model " + o.Model
	}
	return o.Version + ", model " + o.Model
}

// DiscoveryConfigs returns every discovery config the publisher announces, in a
// stable order; none when discovery is off.
func (o Options) DiscoveryConfigs() []DiscoveryMessage {
	if !o.Discovery {
		return nil
	}
	dev, origin := o.device(), o.origin()
	var out []DiscoveryMessage
	add := func(component, object string, cfg map[string]any) {
		cfg["unique_id"] = o.nodeID() + "_" + object
		cfg["device"] = dev
		cfg["origin"] = origin
		cfg["availability_topic"] = o.topic("status")
		cfg["payload_available"] = "online"
		cfg["payload_not_available"] = "offline"
		b, err := json.Marshal(cfg)
		if err != nil {
			panic(err) // plain maps of strings: cannot fail
		}
		out = append(out, DiscoveryMessage{Component: component, Object: object, Topic: o.discoveryTopic(component, object), Payload: b})
	}
	o.sensors(add)
	o.controls(add)
	return out
}

// device is the station as Home Assistant's device registry shows it.
func (o Options) device() map[string]any {
	dev := map[string]any{
		"identifiers":  []string{o.nodeID()},
		"name":         "sorterd " + o.Station,
		"manufacturer": "sorterd",
		"model":        DeviceModel,
	}
	if v := o.swVersion(); v != "" {
		dev["sw_version"] = v
	}
	if o.ConfigURL != "" {
		dev["configuration_url"] = o.ConfigURL
	}
	return dev
}

// origin is what announced the entities (Home Assistant's origin).
func (o Options) origin() map[string]any {
	origin := map[string]any{"name": "sorterd", "support_url": "https://github.com/sorterd/sorterd"}
	if o.Version != "" {
		origin["sw_version"] = o.Version
	}
	return origin
}

// sensors announces what the station reports: the last item's label,
// items per bin, the reject rate, the inference time, the pause.
func (o Options) sensors(add func(component, object string, cfg map[string]any)) {
	add("sensor", "last_label", map[string]any{
		"name": "Last item label", "state_topic": o.topic("event"), "value_template": "{{ value_json.label }}",
		"json_attributes_topic": o.topic("event"), "icon": "mdi:recycle",
	})
	for _, bin := range o.Bins {
		add("sensor", "items_"+bin, map[string]any{
			"name": "Items in " + bin, "state_topic": o.topic("stats"),
			"value_template": fmt.Sprintf("{{ value_json.items_per_bin[%q] | default(0) }}", bin),
			"state_class":    "total_increasing", "unit_of_measurement": "items", "icon": "mdi:delete-variant",
		})
	}
	add("sensor", "reject_rate", map[string]any{
		"name": "Reject rate", "state_topic": o.topic("stats"),
		"value_template": "{% set s = value_json.actions.sort | default(0) %}{% set r = value_json.actions.reject | default(0) %}" +
			"{{ (100 * r / (s + r)) | round(1) if (s + r) > 0 else 0 }}",
		"unit_of_measurement": "%", "state_class": "measurement", "suggested_display_precision": 1, "icon": "mdi:delete-alert",
	})
	add("sensor", "inference_ms", map[string]any{
		"name": "Inference time", "state_topic": o.topic("stats"), "value_template": "{{ value_json.inference_p50_ms }}",
		"unit_of_measurement": "ms", "device_class": "duration", "state_class": "measurement",
		"entity_category": "diagnostic", "suggested_display_precision": 1,
	})
	add("binary_sensor", "paused", map[string]any{
		"name": "Paused", "state_topic": o.topic("stats"),
		"value_template": "{{ 'ON' if value_json.paused else 'OFF' }}", "payload_on": "ON", "payload_off": "OFF",
		"icon": "mdi:pause-circle",
	})
}

// controls announces the buttons (commands), the item event and the
// last item's image.
func (o Options) controls(add func(component, object string, cfg map[string]any)) {
	cmd := func(v map[string]string) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	add("button", "pause", map[string]any{
		"name": "Pause", "command_topic": o.topic("cmd"), "payload_press": cmd(map[string]string{"cmd": "pause"}), "icon": "mdi:pause",
	})
	add("button", "resume", map[string]any{
		"name": "Resume", "command_topic": o.topic("cmd"), "payload_press": cmd(map[string]string{"cmd": "resume"}), "icon": "mdi:play",
	})
	for _, bin := range o.Bins {
		add("button", "test_flap_"+bin, map[string]any{
			"name": "Test flap " + bin, "command_topic": o.topic("cmd"),
			"payload_press": cmd(map[string]string{"cmd": "test_flap", "bin": bin}), "entity_category": "config", "icon": "mdi:gate-open",
		})
	}
	add("event", "item", map[string]any{
		"name": "Item decided", "state_topic": o.topic("event"), "event_types": []string{"sort", "reject"},
		"value_template": `{{ {"event_type": value_json.action, "label": value_json.label, "bin": value_json.bin, ` +
			`"score": value_json.score, "action": value_json.action, "id": value_json.id} | to_json }}`,
		"icon": "mdi:recycle-variant",
	})
	add("image", "snapshot", map[string]any{
		"name": "Last item image", "image_topic": o.topic("snapshot"), "content_type": "image/jpeg",
	})
}

// discovery announces the station to Home Assistant (retained configs)
// and subscribes to the configs retained under its node id, to empty the
// ones no longer announced.
func (p *Publisher) discovery(c mqtt.Client) {
	msgs := p.o.DiscoveryConfigs()
	current := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		current[m.Topic] = true
		c.Publish(m.Topic, 1, true, m.Payload)
	}
	if p.o.DiscoveryPrefix == "" {
		return
	}
	c.Subscribe(p.o.discoverySubscription(), 1, func(c mqtt.Client, m mqtt.Message) {
		if len(m.Payload()) == 0 || current[m.Topic()] || !strings.HasSuffix(m.Topic(), "/config") {
			return
		}
		p.log.Info("home assistant entity removed", "topic", m.Topic())
		c.Publish(m.Topic(), 1, true, []byte{})
	})
}
