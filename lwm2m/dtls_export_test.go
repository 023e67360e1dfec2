package lwm2m

// PionClientHello is a real first ClientHello datagram (dtlsrecord_test.go)
// for the package's external tests.
var PionClientHello = pionClientHello
