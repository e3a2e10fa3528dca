namespace Dynamo.Llm.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ character mapping (<c>bytes_to_unicode</c>) used by every byte-level BPE vocabulary:
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100.. in byte order, so that no token string
/// contains whitespace or control characters (a space becomes 'Ġ', a newline 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly short[] s_charToByte = BuildCharToByte(s_byteToChar);

    public static char ToChar(byte b) => s_byteToChar[b];

    /// <summary>The byte a vocabulary character stands for, or -1 when the character is not in the alphabet.</summary>
    public static int ToByte(char c) => c < s_charToByte.Length ? s_charToByte[c] : -1;

    /// <summary>Maps raw token bytes to their vocabulary string.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = s_byteToChar[b[i]];
            }
        });
    }

    /// <summary>Maps a vocabulary string back to its bytes; false when a character is outside the alphabet.</summary>
    public static bool TryDecode(string token, Span<byte> destination, out int written)
    {
        written = 0;
        if (destination.Length < token.Length)
        {
            return false;
        }

        foreach (var c in token)
        {
            var b = ToByte(c);
            if (b < 0)
            {
                written = 0;
                return false;
            }

            destination[written++] = (byte)b;
        }

        return true;
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }

    private static short[] BuildCharToByte(char[] byteToChar)
    {
        var map = new short[324];
        Array.Fill(map, (short)-1);
        for (var b = 0; b < 256; b++)
        {
            map[byteToChar[b]] = (short)b;
        }

        return map;
    }
}
