// Package lwm2m owns the gateway's LwM2M server on CoAP (go-coap v3) over
// UDP and DTLS 1.2 with PSK (pion/dtls, under a UDP demultiplexer that takes
// a ClientHello with any 0xFE** record version, as stock mbedTLS sends
// 0xFE00, and counts every dropped or failed handshake by cause:
// dtlslistener.go, dtlsrecord.go):
//
//   - the registration interface (/rd Register, Update, De-register),
//     registrations persisted through Store before they are answered,
//     lifetime expiry, re-registration replacing the old one, NAT
//     rebinding (an Update from a new address moves downlink there);
//   - downlink operations on the device's own connection: Read, Write,
//     Execute, Discover, Write-Attributes, Observe and its cancel, with
//     notifications delivered to listeners; Send (POST /dp) accepted;
//     a Read or Observe left to the device (AnyFormat) asks in a format
//     it announced (ct=) or its LwM2M version makes mandatory, and once
//     more in another when it refuses that one (formats.go);
//   - the inventory: after every Register, Object 3 (manufacturer, model,
//     serial, firmware version) read in the background into the device
//     record, never holding up the registration (inventory.go);
//   - a registered device still notifying a previous process's
//     observation gets a Reset and its listeners an EventUnsolicited
//     (unsolicited.go); an idempotent request whose connection a
//     re-registration replaced is sent again on the new one;
//   - queue mode: operations for a sleeping device wait for its next
//     Update and run inside its awake window;
//   - package serving for pull delivery: signed package paths answered
//     with CoAP Block2 at whatever block size the device asks for, one
//     cheap read per block.
//
// Block-wise transfers are done here, not by go-coap: go-coap's automatic
// block-wise gives up after a transfer timeout (delivering a truncated
// Block1 body without error), does not retry a 4.13, and takes over
// hand-made Block1 exchanges. With it off, this package chooses the block
// size per exchange (a 4.13 retries smaller) and serves each Block2 GET
// with a read of exactly that block.
//
// Connections: go-coap closes a connection after 16 s of silence by
// default; here the inactivity monitor closes only connections that carry
// no live registration (package downloads, strays). A registration's
// connection is closed on de-registration, expiry or replacement.
package lwm2m
