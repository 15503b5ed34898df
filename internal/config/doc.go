// Package config owns rotatord's YAML inventory: the types the rest of the
// daemon reads, the defaults, and the validation that turns a hand-written
// file into either a complete Config or a list of every problem in it.
//
// The file is decoded into a yaml.Node tree and walked by hand instead of
// being unmarshalled into structs: the walk knows the line of every key, so
// `rotatord check` can report all mistakes at once as FILE:LINE: message,
// where strict struct decoding would stop at the first unknown key.
//
// Secrets never live in the inventory. A source only says where a value is
// (a Key Vault secret name, a file path, an environment variable); a literal
// password, key or token is refused, and no error repeats such a value.
package config
