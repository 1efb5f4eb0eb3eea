// The device vocabulary (states, reasons, identity, capabilities, completion codes,
// rating levels, events) is DeviceKit's, the hall's values (tickets, windows, ratings,
// statistics) are HallModel's; clients see both through this module. Both are plain
// Codable values with no I/O: linking them costs hallctl nothing.
@_exported import DeviceKit
@_exported import HallModel
