// Package console is hubsend's web console: the static pages, styles and
// scripts that a workspace admin's browser loads from the config API to
// manage Contactsend sources, screen for screen as Contacthub's own
// "Contactsend source" page (name, description, active node, provider
// options, fields to map, subscription rows). It has no server side of its own: the config
// API serves these files and the scripts call the API's JSON endpoints.
//
// The files are plain HTML, CSS and JavaScript modules with no build step,
// written for the API's Content-Security-Policy: nothing inline, nothing
// loaded from another origin.
package console

import (
	"embed"
	"io/fs"
)

//go:embed assets
var assets embed.FS

// Assets returns the console's files, with index.html at the root and
// every other file under the path the pages request it by, minus the
// /console/ prefix the config API serves them under.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "assets" is valid.
		panic(err)
	}
	return sub
}
