// Package deeplink builds what a new user needs to start texting their home
// line: the prefilled message body with its attribution code, the iOS and
// Android sms: links, a vCard listing the home line and backups, a QR code,
// the public short-link token, and the pages served at that link.
//
// Everything here is pure: no storage, no clock. The signup handlers decide
// what to store and serve.
package deeplink
