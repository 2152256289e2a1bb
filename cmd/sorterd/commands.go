package main

import (
	"github.com/sorterd/sorterd/config"
	"github.com/sorterd/sorterd/infer"
	"github.com/sorterd/sorterd/internal/clidoc"
)

// The command line, described once: sorterd help prints its Usage, and
// docs/cli.md's command list and flag tables, the man page
// (share/man/man1/sorterd.1) and the bash completion
// (share/bash-completion/completions/sorterd) are rendered from it with
// each command's flags read from the flag set the command parses
// (cli.Seen). TestCLIFiles fails when one of those files differs from
// what this gives; `go test ./cmd/sorterd -run TestCLIFiles -update`
// writes them.

// program is sorterd's description, without the flags (the docs add them).
func program() clidoc.Program {
	images := clidoc.Value{Kind: clidoc.File, Globs: []string{"*.jpg", "*.jpeg", "*.JPG", "*.png", "*.PNG"}, Arg: "IMG"}
	yaml := clidoc.Value{Kind: clidoc.File, Globs: []string{"*.yaml", "*.yml"}}
	return clidoc.Program{
		Name:  "sorterd",
		Title: "camera-based waste-sorting station",
		Description: []string{
			"sorterd runs a waste-sorting station: a camera sees an item land on a tray, sorterd finds it " +
				"against the learned empty tray, a TensorFlow Lite model says cardboard, glass, metal, paper, " +
				"plastic or trash, and a GPIO output opens that bin's flap. Every decision goes out over MQTT " +
				"(with Home Assistant discovery), to a web page and to Prometheus.",
			"Without a command, sorterd runs the station from its configuration file, as the sorterd " +
				"systemd service does. The other commands classify photos, measure, train and evaluate " +
				"models, check a configuration, and aim, lock and calibrate the camera.",
		},
		Commands: []clidoc.Command{
			{Uses: []clidoc.Use{{Args: "[--config FILE]", Summary: "run the station (default " + config.DefaultPath + ")"}}},
			{Name: "--once", Uses: []clidoc.Use{{Args: "IMG [IMG...] [flags]", Summary: "classify images and exit"}}, Operands: images},
			{Name: "serve", Uses: []clidoc.Use{{Args: "[--model M] [--listen A]", Summary: "the classify page and API, without camera or GPIO"}}},
			{Name: "bench", Uses: []clidoc.Use{{Args: "[flags]", Summary: "measure the camera path and raw TFLite invoke"}}},
			{Name: "train", Uses: []clidoc.Use{{Args: "--data DIR [flags]", Summary: "train the garbage head, export one .tflite"}}},
			{Name: "eval", Uses: []clidoc.Use{
				{Args: "--model M --data DIR", Summary: "accuracy, per-class metrics, confusion matrix"},
				{Args: "--station --data DIR", Summary: "the station benchmark: photos laid on trays, through the daemon's path"},
			}},
			{Name: "export", Uses: []clidoc.Use{{Args: "--head H --base B", Summary: "rebuild a model from a trained head and its base"}}},
			{Name: "config check", Uses: []clidoc.Use{{Args: "[FILE]", Summary: "validate a configuration file"}}, Operands: yaml},
			{Name: "config show", Uses: []clidoc.Use{{Args: "[FILE]", Summary: "print the configuration in effect (defaults, file, SORTERD_* variables; secrets masked)"}}, Operands: yaml},
			{Name: "camera snapshot", Uses: []clidoc.Use{{Args: "[--config FILE] OUT.jpg", Summary: "save one frame from the configured camera (rotated/flipped), to aim it"}},
				Operands: clidoc.Value{Kind: clidoc.File, Globs: []string{"*.jpg", "*.png"}}},
			{Name: "calibrate", Uses: []clidoc.Use{{Args: "[--config FILE]", Summary: "record the empty tray as the colour reference (daemon stopped)"}}},
			{Name: "camera lock", Uses: []clidoc.Use{{Args: "[--config FILE]", Summary: "lock the configured camera's exposure and white balance, say what the driver accepted"}}},
			{Name: "version", Uses: []clidoc.Use{{Summary: "print versions (also --version)"}}},
			{Name: "help", Uses: []clidoc.Use{{Args: "[COMMAND]", Summary: "this text, or a command's flags (as COMMAND -h)"}}, Operands: clidoc.Value{Kind: clidoc.CommandName}},
		},
		Footer: []string{
			`Run "sorterd COMMAND -h" (or "sorterd --once -h") for a command's flags.`,
			"Exit status: 0 success (and -h, --version), 1 the work failed, 2 usage or configuration error.",
		},
		Exit: []clidoc.Exit{
			{Code: 0, Meaning: "success, and -h, --help, --version"},
			{Code: 1, Meaning: "the work failed: an image that could not be classified, a camera that gave no frame, a configuration check that found problems"},
			{Code: 2, Meaning: "a usage error, or a configuration (or the model or pins it names) the daemon cannot start with; the systemd unit does not restart the daemon on it"},
		},
		Files: []clidoc.Item{
			{Name: config.DefaultPath, Text: "the station's configuration (0640 root:sorterd); sorterd.example.yaml beside the model documents every key"},
			{Name: config.DefaultModelPath, Text: "the default model"},
			{Name: "/var/lib/sorterd", Text: "the state directory: the MQTT outbox, the colour reference (reference.json), corrected samples, the optional item archive"},
		},
		Environment: []clidoc.Item{
			{Name: "SORTERD_<SECTION>_<KEY>", Text: "overrides a scalar key of the configuration file (SORTERD_MQTT_BROKER for mqtt.broker); sorterd config show prints the result"},
			{Name: "CREDENTIALS_DIRECTORY", Text: "where systemd's LoadCredential= puts mqtt_password, read when the file gives no MQTT password"},
		},
		SeeAlso: []string{"https://github.com/sorterd/sorterd (docs/cli.md, docs/config.md, docs/daemon.md)"},
	}
}

// usage is the text sorterd help prints.
var usage = clidoc.Usage(program())

// flagValues says what each flag that takes a value takes, for the
// completion (a file, a folder, one of a few names, or free text) and the
// name of its value in the docs. Every such flag of every command is
// here: TestCLIFiles fails on one that is not.
var flagValues = map[string]clidoc.Value{
	"config":           {Kind: clidoc.File, Globs: []string{"*.yaml", "*.yml"}},
	"model":            {Kind: clidoc.File, Globs: []string{"*.tflite"}},
	"base":             {Kind: clidoc.File, Globs: []string{"*.tflite"}},
	"out":              {Kind: clidoc.File, Globs: []string{"*.tflite"}},
	"head":             {Kind: clidoc.File, Globs: []string{"*.json"}},
	"labels":           {Kind: clidoc.File},
	"plot":             {Kind: clidoc.File, Globs: []string{"*.png"}},
	"image":            {Kind: clidoc.File, Globs: []string{"*.jpg", "*.jpeg", "*.png"}},
	"data":             {Kind: clidoc.Dir},
	"cache":            {Kind: clidoc.Dir},
	"keep":             {Kind: clidoc.Dir},
	"delegate":         {Kind: clidoc.Choice, Choices: infer.Delegates},
	"log-level":        {Kind: clidoc.Choice, Choices: []string{"debug", "info", "warn", "error"}, Arg: "LEVEL"},
	"split":            {Kind: clidoc.Choice, Choices: []string{"test", "train", "all"}},
	"finetune-layers":  {Kind: clidoc.Choice, Choices: []string{"1", "2"}, Arg: "N"},
	"edgetpu-device":   {Arg: "DEVICE"},
	"tta":              {Arg: "VIEWS"},
	"listen":           {Arg: "ADDR"},
	"token":            {Arg: "TOKEN"},
	"scenes":           {Arg: "SCENES"},
	"timeout":          {Arg: "DURATION"},
	"threads":          {Arg: "N"},
	"top":              {Arg: "K"},
	"n":                {Arg: "N"},
	"fps":              {Arg: "FPS"},
	"max-pixels":       {Arg: "N"},
	"max-bytes":        {Arg: "N"},
	"seed":             {Arg: "S"},
	"augment":          {Arg: "N"},
	"station-views":    {Arg: "N"},
	"test-fraction":    {Arg: "F"},
	"val-fraction":     {Arg: "F"},
	"size":             {Arg: "PX"},
	"finetune-epochs":  {Arg: "N"},
	"finetune-lr":      {Arg: "LR"},
	"finetune-proj-lr": {Arg: "LR"},
	"finetune-smooth":  {Arg: "S"},
	"limit":            {Arg: "N"},
	"hold":             {Arg: "N"},
	"gap":              {Arg: "N"},
	"skip":             {Arg: "N"},
	"settle":           {Arg: "N"},
}

// flagDocDefaults are the defaults the docs give for flags whose default
// depends on the machine it runs on.
var flagDocDefaults = map[string]string{
	"threads": "the number of CPUs",
	"cache":   "$XDG_CACHE_HOME/sorterd/features (~/.cache/sorterd/features)",
}
