using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Dynamo.Llm.Templates.Jinja;

/// <summary>
/// Splits a template into text and tag tokens with the settings Hugging Face renders chat templates with:
/// <c>trim_blocks</c> (the newline after a block or comment tag is dropped) and <c>lstrip_blocks</c> (spaces and tabs
/// before a block or comment tag at the start of a line are dropped), plus <c>-</c>/<c>+</c> whitespace control.
/// As in Jinja, newlines are normalized to <c>\n</c> and one trailing newline of the source is dropped.
/// </summary>
internal sealed partial class Lexer
{
    private static readonly string[] s_operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|", ".", ",", ":", "(", ")", "[", "]", "{", "}", "<", ">", "="];

    private readonly string _src;
    private readonly SourceText _source;
    private readonly List<Token> _tokens = [];
    private int _pos;
    private bool _lineStarting = true;

    private Lexer(SourceText source)
    {
        _source = source;
        _src = source.Text;
    }

    /// <summary>Jinja's source normalization, applied before lexing so positions match what the lexer sees.</summary>
    public static string Normalize(string template)
    {
        var text = template.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    public static List<Token> Tokenize(SourceText source)
    {
        var lexer = new Lexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        while (_pos < _src.Length)
        {
            var start = FindTagStart(_pos);
            if (start < 0)
            {
                Emit(TokenKind.Text, _src[_pos..], _pos);
                break;
            }

            var tag = _src[start + 1];
            var after = start + 2;
            var sign = after < _src.Length && (_src[after] == '-' || (_src[after] == '+' && tag != '{')) ? _src[after] : '\0';
            var text = _src[_pos..start];
            if (sign == '-')
            {
                text = text.TrimEnd();
            }
            else if (sign != '+' && tag != '{')
            {
                text = LstripBlock(text);
            }

            if (text.Length > 0)
            {
                Emit(TokenKind.Text, text, _pos);
            }

            if (sign != '\0')
            {
                after++;
            }

            switch (tag)
            {
                case '#':
                    LexComment(start, after);
                    break;
                case '%':
                    Emit(TokenKind.BlockBegin, "{%", start);
                    LexTag(after, block: true);
                    break;
                default:
                    Emit(TokenKind.VariableBegin, "{{", start);
                    LexTag(after, block: false);
                    break;
            }
        }

        Emit(TokenKind.Eof, string.Empty, _src.Length);
    }

    private int FindTagStart(int from)
    {
        for (var i = _src.IndexOf('{', from); i >= 0 && i + 1 < _src.Length; i = _src.IndexOf('{', i + 1))
        {
            var next = _src[i + 1];
            if (next is '{' or '%' or '#')
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>lstrip_blocks: drop the spaces and tabs between the start of the line and a block tag.</summary>
    private string LstripBlock(string text)
    {
        var lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !_lineStarting)
        {
            return text;
        }

        for (var i = lineStart; i < text.Length; i++)
        {
            if (text[i] is not (' ' or '\t'))
            {
                return text;
            }
        }

        return text[..lineStart];
    }

    private void LexComment(int start, int from)
    {
        var end = _src.IndexOf("#}", from, StringComparison.Ordinal);
        if (end < 0)
        {
            throw _source.Error("unclosed comment: missing '#}'", start);
        }

        var strip = end > from && _src[end - 1] == '-';
        var keep = end > from && _src[end - 1] == '+';
        FinishTag(end + 2, strip, trim: !keep);
    }

    private void LexTag(int from, bool block)
    {
        var depth = 0;
        var i = from;
        while (true)
        {
            while (i < _src.Length && char.IsWhiteSpace(_src[i]))
            {
                i++;
            }

            if (i >= _src.Length)
            {
                throw _source.Error(block ? "unclosed block tag: missing '%}'" : "unclosed expression: missing '}}'", from);
            }

            if (depth == 0 && TryTagEnd(i, block, out var endLength, out var strip, out var keep))
            {
                var endKind = block ? TokenKind.BlockEnd : TokenKind.VariableEnd;
                Emit(endKind, block ? "%}" : "}}", i);
                FinishTag(i + endLength, strip, trim: block && !keep);
                if (block && IsRawBlockStart())
                {
                    LexRaw();
                }

                return;
            }

            var c = _src[i];
            if (char.IsAsciiLetter(c) || c == '_')
            {
                var s = i;
                while (i < _src.Length && (char.IsAsciiLetterOrDigit(_src[i]) || _src[i] == '_'))
                {
                    i++;
                }

                Emit(TokenKind.Name, _src[s..i], s);
            }
            else if (char.IsAsciiDigit(c))
            {
                i = LexNumber(i);
            }
            else if (c is '\'' or '"')
            {
                i = LexString(i);
            }
            else
            {
                var op = MatchOperator(i) ?? throw _source.Error($"unexpected character '{c}'", i);
                if (op is "(" or "[" or "{")
                {
                    depth++;
                }
                else if (op is ")" or "]" or "}")
                {
                    if (depth == 0)
                    {
                        throw _source.Error($"unexpected '{op}'", i);
                    }

                    depth--;
                }

                Emit(TokenKind.Operator, op, i);
                i += op.Length;
            }
        }
    }

    private bool TryTagEnd(int i, bool block, out int length, out bool strip, out bool keep)
    {
        var marker = block ? "%}" : "}}";
        strip = keep = false;
        length = 0;
        if (string.CompareOrdinal(_src, i, marker, 0, 2) == 0)
        {
            length = 2;
            return true;
        }

        if (i + 2 < _src.Length && (_src[i] == '-' || (block && _src[i] == '+')) && string.CompareOrdinal(_src, i + 1, marker, 0, 2) == 0)
        {
            strip = _src[i] == '-';
            keep = _src[i] == '+';
            length = 3;
            return true;
        }

        return false;
    }

    /// <summary>Moves past a tag end: '-' strips all following whitespace, trim_blocks one newline.</summary>
    private void FinishTag(int end, bool strip, bool trim)
    {
        var i = end;
        if (strip)
        {
            while (i < _src.Length && char.IsWhiteSpace(_src[i]))
            {
                i++;
            }
        }
        else if (trim && i < _src.Length && _src[i] == '\n')
        {
            i++;
        }

        _lineStarting = i > 0 && _src[i - 1] == '\n';
        _pos = i;
    }

    private bool IsRawBlockStart()
    {
        // Tokens so far end with: BlockBegin, Name "raw", BlockEnd.
        var n = _tokens.Count;
        return n >= 3 && _tokens[n - 2].IsName("raw") && _tokens[n - 3].Kind == TokenKind.BlockBegin;
    }

    private void LexRaw()
    {
        var start = _tokens[^3].Position;
        _tokens.RemoveRange(_tokens.Count - 3, 3);
        var match = EndRawPattern().Match(_src, _pos);
        if (!match.Success)
        {
            throw _source.Error("unclosed raw block: missing '{% endraw %}'", start);
        }

        var content = _src[_pos..match.Index];
        if (match.Groups[1].Value == "-")
        {
            content = content.TrimEnd();
        }

        if (content.Length > 0)
        {
            Emit(TokenKind.Text, content, _pos);
        }

        FinishTag(match.Index + match.Length, strip: match.Groups[2].Value == "-", trim: match.Groups[2].Value != "+");
    }

    private int LexNumber(int i)
    {
        var s = i;
        while (i < _src.Length && (char.IsAsciiDigit(_src[i]) || _src[i] == '_'))
        {
            i++;
        }

        var isFloat = false;
        if (i + 1 < _src.Length && _src[i] == '.' && char.IsAsciiDigit(_src[i + 1]))
        {
            isFloat = true;
            i++;
            while (i < _src.Length && (char.IsAsciiDigit(_src[i]) || _src[i] == '_'))
            {
                i++;
            }
        }

        if (i < _src.Length && _src[i] is 'e' or 'E')
        {
            var j = i + 1;
            if (j < _src.Length && _src[j] is '+' or '-')
            {
                j++;
            }

            if (j < _src.Length && char.IsAsciiDigit(_src[j]))
            {
                isFloat = true;
                i = j;
                while (i < _src.Length && char.IsAsciiDigit(_src[i]))
                {
                    i++;
                }
            }
        }

        Emit(isFloat ? TokenKind.Float : TokenKind.Integer, _src[s..i].Replace("_", "", StringComparison.Ordinal), s);
        return i;
    }

    private int LexString(int i)
    {
        var quote = _src[i];
        var s = i++;
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= _src.Length)
            {
                throw _source.Error("unterminated string literal", s);
            }

            var c = _src[i++];
            if (c == quote)
            {
                break;
            }

            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }

            if (i >= _src.Length)
            {
                throw _source.Error("unterminated string literal", s);
            }

            var e = _src[i++];
            switch (e)
            {
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case 'a': sb.Append('\a'); break;
                case '0': sb.Append('\0'); break;
                case '\n': break;
                case 'x': i = AppendCodePoint(sb, i, 2, s); break;
                case 'u': i = AppendCodePoint(sb, i, 4, s); break;
                case 'U': i = AppendCodePoint(sb, i, 8, s); break;
                default:
                    // Python keeps unknown escapes as written.
                    sb.Append('\\').Append(e);
                    break;
            }
        }

        Emit(TokenKind.String, sb.ToString(), s);
        return i;
    }

    private int AppendCodePoint(StringBuilder sb, int i, int digits, int stringStart)
    {
        if (i + digits > _src.Length
            || !int.TryParse(_src.AsSpan(i, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code)
            || code > 0x10FFFF)
        {
            throw _source.Error("invalid escape in string literal", stringStart);
        }

        sb.Append(char.ConvertFromUtf32(code is >= 0xD800 and <= 0xDFFF ? 0xFFFD : code));
        return i + digits;
    }

    private string? MatchOperator(int i)
    {
        foreach (var op in s_operators)
        {
            if (string.CompareOrdinal(_src, i, op, 0, op.Length) == 0)
            {
                return op;
            }
        }

        return null;
    }

    private void Emit(TokenKind kind, string value, int position) => _tokens.Add(new Token(kind, value, position));

    [GeneratedRegex(@"\{%([-+]?)\s*endraw\s*([-+]?)%\}")]
    private static partial Regex EndRawPattern();
}
