// Package node owns the LwM2M data model: paths (/o/i/r/ri), typed
// resource values, flat records (a path and a value: the form every
// content format decodes to) and the object models fumo-gw knows (1
// Server, 3 Device, 5 Firmware Update, 9 Software Management). Pure: no
// I/O, no clocks.
package node
