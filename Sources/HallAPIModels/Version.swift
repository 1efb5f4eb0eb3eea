/// halld's version: what `GET /v1/info` answers, the `Server` header, and what hallctl prints.
public enum HalldVersion {
    public static let current = "0.1.0"
}
