/// A device whose line traffic a technician can record (serial devices): every
/// byte sent and received on its port, with times, into a file that a replay
/// transport can play back in a test.
public protocol TrafficRecordable: Device {
    /// Starts recording to `file` for `duration`; a recording already running is replaced.
    func startRecording(file: String, for duration: Duration) async throws
    /// Stops the recording: the file and the number of chunks written, or nil when none ran.
    func stopRecording() async -> (file: String, chunks: Int)?
}
