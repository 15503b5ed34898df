// Package connstatus classifies why a Power BI or Fabric data source did not
// connect with the credential it holds, from the error code the service
// answered with and, for the gateway's catch-all DataSourceAccessError, the
// database's native error code and message.
//
// The reasons are metric label values and decide whether a rotation may roll
// back: only Rejected is evidence against the credential. A failure that
// cannot be told apart is never Rejected — pushing an older credential back
// because the database was down replaces a good password with a worse one.
//
// It is a leaf package: pbi classifies the status call's errors with it, and
// rotate and metrics name the reasons through its constants.
package connstatus
