// Package safefile owns reading a file rotatord must trust: the inventory,
// secret files and the web config. A path an operator (or an attacker with
// a local account) controls can name a FIFO that blocks open(2) forever,
// /dev/zero that never ends, or a file any user may rewrite. Open and
// ReadFile refuse all three before reading a byte:
//
//   - the path is opened with O_NONBLOCK, so a FIFO cannot block the open;
//   - the opened file is fstat'ed (not the path: a swap between check and
//     read cannot slip past), and anything but a regular file is refused;
//   - permission bits the caller denies (group or other write for a secret)
//     refuse the file, with the chmod that fixes it;
//   - at most the caller's limit is read, and a longer file is refused
//     rather than cut;
//   - ReadFile returns as soon as its context is done, even when the
//     kernel does not (a hung network file system).
//
// Every refusal is an *Error naming the path, never the content.
package safefile
