// Package trigger holds the station's hardware trigger: a presence sensor
// (an IR break-beam on a GPIO input) that says "an item came", one value
// per item.
//
// It is one of the three ways an item starts (settings.TriggerMode): the
// continuous and motion triggers are decided from the frames themselves,
// inside pipeline (motion asks locate.Tray whether the tray differs from
// the empty one); gpio is decided here, off the frames, and reaches the
// pipeline as Options.Presence.
//
// The pin's level is denoised by periph's gpioutil.Debounce, rising edges
// are items, and an item closer than the debounce time to the previous one
// is dropped (the clock is injected, so tests need no sleeps for it).
package trigger
