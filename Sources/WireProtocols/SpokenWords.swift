/// Words as halls say them aloud: shared by the voices and `hallctl voice make`.
public enum SpokenWords {
    /// ASCII digits as Chinese digits, so each is said alone (A012 is A 零一二), as
    /// halls call numbers and as clip voices say them.
    public static func digitsSpelled(_ text: String) -> String {
        let digits = Array("零一二三四五六七八九")
        return String(text.map { c in c.isASCII && c.isNumber ? digits[Int(c.asciiValue! - 48)] : c })
    }

    /// The clips a clip voice needs for calls (`请A012号到3号窗口办理`), named by what
    /// they say, then `extra` (the services' names). `chime.wav` comes with them.
    public static func callClipNames(extra: [String] = []) -> [String] {
        ["请", "号", "到", "窗口", "办理"] + (0...9).map(String.init) + (UInt8(ascii: "A")...UInt8(ascii: "Z")).map { String(UnicodeScalar($0)) } + extra
    }
}
