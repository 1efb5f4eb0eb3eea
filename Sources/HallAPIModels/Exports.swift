// The device vocabulary (states, reasons, identity, capabilities, completion codes,
// rating levels, events) is DeviceKit's; clients see it through this module.
@_exported import DeviceKit
