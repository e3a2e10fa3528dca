namespace Dynamo.Llm.Structured;

/// <summary>
/// Steps matcher threads (<see cref="Frame"/> stacks) over output bytes. Compact JSON only: no whitespace between
/// tokens (a sampled model cannot pad with spaces until max_tokens), no escapes in keys, no surrogate <c>\u</c>
/// escapes, digit counts bounded. A thread that cannot take a byte is dropped; several threads live side by side
/// only where the grammar is ambiguous (anyOf), until the bytes tell them apart.
/// </summary>
internal static class JsonMatcher
{
    /// <summary>Containers nest at most this deep (bounds "any JSON value" in JSON mode and additionalProperties).</summary>
    public const int MaxNesting = 32;

    /// <summary>Integer-part digits of a number; more are not produced (JSON numbers beyond this are not exact in doubles anyway).</summary>
    public const int MaxIntegerDigits = 15;

    public const int MaxFractionDigits = 15;

    public const int MaxExponentDigits = 3;

    // Object phases.
    private const int ObjStart = 0, ObjOpen = 1, ObjKey = 2, ObjColon = 3, ObjAfterValue = 4, ObjAfterComma = 5, ObjValue = 6;

    // Array phases.
    private const int ArrStart = 0, ArrOpen = 1, ArrAfterItem = 2, ArrAfterComma = 3;

    // String phases (Hex1..Hex4: the digits of a \u escape; HexD2: the second digit after a 'd', which must not start a surrogate).
    private const int StrStart = 0, StrContent = 1, StrEscape = 2, Hex1 = 3, Hex2 = 4, Hex3 = 5, Hex4 = 6, HexD2 = 7;

    // Number phases.
    private const int NumStart = 0, NumMinus = 1, NumZero = 2, NumInt = 3, NumDot = 4, NumFrac = 5, NumE = 6, NumESign = 7, NumExp = 8;

    public static Frame Pop(Frame f) => f.Parent ?? Frame.Done;

    /// <summary>Starts a value of <paramref name="node"/> with its first byte.</summary>
    public static void Enter(GrammarNode node, Frame? parent, int depth, byte b, List<Frame> output)
    {
        switch (node)
        {
            case AnyOfNode any:
                foreach (var alternative in any.Alternatives)
                {
                    Enter(alternative, parent, depth, b, output);
                }

                break;
            case SequenceNode sequence:
                Enter(sequence.Parts[0], new Frame(sequence, parent, 0, depth, a: 1), depth, b, output);
                break;
            default:
                Step(new Frame(node, parent, 0, depth), b, output);
                break;
        }
    }

    /// <summary>Adds to <paramref name="output"/> every thread that <paramref name="f"/> becomes after <paramref name="b"/>.</summary>
    public static void Step(Frame f, byte b, List<Frame> output)
    {
        switch (f.Node)
        {
            case null:
                return;
            case ObjectNode o:
                StepObject(o, f, b, output);
                return;
            case ArrayNode a:
                StepArray(a, f, b, output);
                return;
            case StringNode s:
                StepString(s, f, b, output);
                return;
            case NumberNode n:
                StepNumber(n, f, b, output);
                return;
            case LiteralNode l:
                var child = l.Literals.Child(f.A, b);
                if (child >= 0)
                {
                    output.Add(new Frame(l, f.Parent, 0, f.Depth, child));
                }

                if (l.Literals.Terminal(f.A) >= 0)
                {
                    Step(Pop(f), b, output);
                }

                return;
            case SequenceNode q:
                if (f.A < q.Parts.Length)
                {
                    Enter(q.Parts[f.A], new Frame(q, f.Parent, 0, f.Depth, f.A + 1), f.Depth, b, output);
                }
                else
                {
                    Step(Pop(f), b, output);
                }

                return;
            default:
                throw new InvalidOperationException($"no frame is ever made for a {f.Node.Kind} node");
        }
    }

    /// <summary>Whether the output may end with this thread as it is.</summary>
    public static bool CanEnd(Frame f)
    {
        while (true)
        {
            if (ReferenceEquals(f, Frame.Done))
            {
                return true;
            }

            var endsHere = f.Node switch
            {
                NumberNode => f.Phase is NumZero or NumInt or NumFrac or NumExp,
                LiteralNode l => l.Literals.Terminal(f.A) >= 0,
                SequenceNode q => f.A >= q.Parts.Length,
                _ => false,
            };
            if (!endsHere)
            {
                return false;
            }

            f = Pop(f);
        }
    }

    /// <summary>Whether no byte may follow (the thread can only end).</summary>
    public static bool IsExhausted(Frame f)
    {
        while (true)
        {
            if (ReferenceEquals(f, Frame.Done))
            {
                return true;
            }

            var exhaustedHere = f.Node switch
            {
                LiteralNode l => l.Literals.Terminal(f.A) >= 0 && !l.Literals.HasChildren(f.A),
                SequenceNode q => f.A >= q.Parts.Length,
                _ => false,
            };
            if (!exhaustedHere)
            {
                return false;
            }

            f = Pop(f);
        }
    }

    /// <summary>
    /// Whether this thread is inside free string text at a character boundary: any run of plain string bytes
    /// (<see cref="TokenVocabulary.PlainChars"/>) up to <paramref name="remaining"/> characters keeps it alive.
    /// </summary>
    public static bool InPlainText(Frame f, out int remaining)
    {
        remaining = 0;
        if (f.C != 0)
        {
            return false;
        }

        if (f.Node is StringNode s && f.Phase == StrContent)
        {
            remaining = s.Max == int.MaxValue ? int.MaxValue : s.Max - f.A;
            return true;
        }

        if (f.Node is ObjectNode { Additional: not null } && f.Phase == ObjKey)
        {
            // Any key continues as an additional one (one equal to a declared name is only refused when it closes).
            remaining = int.MaxValue;
            return true;
        }

        return false;
    }

    private static void StepObject(ObjectNode o, Frame f, byte b, List<Frame> output)
    {
        switch (f.Phase)
        {
            case ObjStart:
                if (b == '{' && f.Depth < MaxNesting)
                {
                    output.Add(new Frame(o, f.Parent, ObjOpen, f.Depth));
                }

                return;
            case ObjOpen:
                if (b == '}' && o.Required == 0)
                {
                    output.Add(Pop(f));
                }
                else if (b == '"' && CanStartKey(o, f.B))
                {
                    output.Add(new Frame(o, f.Parent, ObjKey, f.Depth, 0, f.B, seenKeys: f.SeenKeys));
                }

                return;
            case ObjAfterComma:
                if (b == '"')
                {
                    output.Add(new Frame(o, f.Parent, ObjKey, f.Depth, 0, f.B, seenKeys: f.SeenKeys));
                }

                return;
            case ObjKey:
                StepKey(o, f, b, output);
                return;
            case ObjColon:
                if (b == ':')
                {
                    output.Add(new Frame(o, f.Parent, ObjValue, f.Depth, f.A, f.B, seenKeys: f.SeenKeys));
                }

                return;
            case ObjValue:
                var value = f.A >= 0 ? o.Values[f.A] : o.Additional!;
                var seen = f.A >= 0 ? f.B | (1UL << f.A) : f.B;
                Enter(value, new Frame(o, f.Parent, ObjAfterValue, f.Depth, 0, seen, seenKeys: f.SeenKeys), f.Depth + 1, b, output);
                return;
            case ObjAfterValue:
                if (b == ',' && CanStartKey(o, f.B))
                {
                    output.Add(new Frame(o, f.Parent, ObjAfterComma, f.Depth, 0, f.B, seenKeys: f.SeenKeys));
                }
                else if (b == '}' && (o.Required & ~f.B) == 0)
                {
                    output.Add(Pop(f));
                }

                return;
        }
    }

    private static bool CanStartKey(ObjectNode o, ulong seen) => o.Additional is not null || (o.All & ~seen) != 0;

    private static void StepKey(ObjectNode o, Frame f, byte b, List<Frame> output)
    {
        if (b == '"')
        {
            if (f.C != 0)
            {
                return;
            }

            var property = f.A >= 0 ? o.Keys.Terminal(f.A) : -1;
            if (property >= 0)
            {
                // A declared name: its own schema, once.
                if ((f.B & (1UL << property)) == 0)
                {
                    output.Add(new Frame(o, f.Parent, ObjColon, f.Depth, property, f.B));
                }
            }
            else if (o.Additional is not null && !KeyChain.Contains(f.SeenKeys, f.Key))
            {
                // Another key, not one already written (a duplicate key is valid JSON syntax, but not a sound object).
                output.Add(new Frame(o, f.Parent, ObjColon, f.Depth, -1, f.B, seenKeys: new KeyChain(0, f.SeenKeys, f.Key)));
            }

            return;
        }

        if (b is (byte)'\\' or < 0x20)
        {
            return;
        }

        var c = Utf8Next(f.C, b);
        if (c < 0)
        {
            return;
        }

        var node = f.A >= 0 ? o.Keys.Child(f.A, b) : -1;
        if (o.Additional is null && (node < 0 || (o.Keys.Below(node) & ~f.B) == 0))
        {
            // No declared name that is still free starts like this, and no other key may be written.
            return;
        }

        output.Add(new Frame(o, f.Parent, ObjKey, f.Depth, node, f.B, c, o.Additional is null ? null : new KeyChain(b, f.Key), f.SeenKeys));
    }

    private static void StepArray(ArrayNode a, Frame f, byte b, List<Frame> output)
    {
        switch (f.Phase)
        {
            case ArrStart:
                if (b == '[' && f.Depth < MaxNesting)
                {
                    output.Add(new Frame(a, f.Parent, ArrOpen, f.Depth));
                }

                return;
            case ArrOpen:
                if (b == ']')
                {
                    if (a.Min == 0)
                    {
                        output.Add(Pop(f));
                    }
                }
                else if (a.Max > 0)
                {
                    Enter(a.Items, new Frame(a, f.Parent, ArrAfterItem, f.Depth, 1), f.Depth + 1, b, output);
                }

                return;
            case ArrAfterItem:
                if (b == ',' && f.A < a.Max)
                {
                    output.Add(new Frame(a, f.Parent, ArrAfterComma, f.Depth, f.A));
                }
                else if (b == ']' && f.A >= a.Min)
                {
                    output.Add(Pop(f));
                }

                return;
            case ArrAfterComma:
                Enter(a.Items, new Frame(a, f.Parent, ArrAfterItem, f.Depth, f.A + 1), f.Depth + 1, b, output);
                return;
        }
    }

    private static void StepString(StringNode s, Frame f, byte b, List<Frame> output)
    {
        switch (f.Phase)
        {
            case StrStart:
                if (b == '"')
                {
                    output.Add(new Frame(s, f.Parent, StrContent, f.Depth));
                }

                return;
            case StrContent:
                if (f.C != 0)
                {
                    var c = Utf8Next(f.C, b);
                    if (c >= 0)
                    {
                        output.Add(new Frame(s, f.Parent, StrContent, f.Depth, f.A, 0, c));
                    }
                }
                else if (b == '"')
                {
                    if (f.A >= s.Min)
                    {
                        output.Add(Pop(f));
                    }
                }
                else if (f.A < s.Max && b >= 0x20)
                {
                    if (b == '\\')
                    {
                        output.Add(new Frame(s, f.Parent, StrEscape, f.Depth, f.A));
                    }
                    else if (Utf8Next(0, b) is var c and >= 0)
                    {
                        output.Add(new Frame(s, f.Parent, StrContent, f.Depth, f.A + 1, 0, c));
                    }
                }

                return;
            case StrEscape:
                if (b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t')
                {
                    output.Add(new Frame(s, f.Parent, StrContent, f.Depth, f.A + 1));
                }
                else if (b == 'u')
                {
                    output.Add(new Frame(s, f.Parent, Hex1, f.Depth, f.A));
                }

                return;
            case Hex1:
                if (b is (byte)'d' or (byte)'D')
                {
                    output.Add(new Frame(s, f.Parent, HexD2, f.Depth, f.A));
                }
                else if (IsHex(b))
                {
                    output.Add(new Frame(s, f.Parent, Hex2, f.Depth, f.A));
                }

                return;
            case HexD2:
                // \uD800-\uDFFF are surrogates: alone they are not text, and pairs are not worth their complexity here.
                if (b is >= (byte)'0' and <= (byte)'7')
                {
                    output.Add(new Frame(s, f.Parent, Hex3, f.Depth, f.A));
                }

                return;
            case Hex2:
            case Hex3:
                if (IsHex(b))
                {
                    output.Add(new Frame(s, f.Parent, f.Phase + 1, f.Depth, f.A));
                }

                return;
            case Hex4:
                if (IsHex(b))
                {
                    output.Add(new Frame(s, f.Parent, StrContent, f.Depth, f.A + 1));
                }

                return;
        }
    }

    private static void StepNumber(NumberNode n, Frame f, byte b, List<Frame> output)
    {
        var digit = b is >= (byte)'0' and <= (byte)'9';
        switch (f.Phase)
        {
            case NumStart:
            case NumMinus:
                if (b == '-' && f.Phase == NumStart)
                {
                    output.Add(new Frame(n, f.Parent, NumMinus, f.Depth));
                }
                else if (b == '0')
                {
                    output.Add(new Frame(n, f.Parent, NumZero, f.Depth));
                }
                else if (digit)
                {
                    output.Add(new Frame(n, f.Parent, NumInt, f.Depth, 1));
                }

                return;
            case NumZero:
            case NumInt:
                if (digit && f.Phase == NumInt && f.A < MaxIntegerDigits)
                {
                    output.Add(new Frame(n, f.Parent, NumInt, f.Depth, f.A + 1));
                }
                else if (b == '.' && !n.Integer)
                {
                    output.Add(new Frame(n, f.Parent, NumDot, f.Depth));
                }
                else if (b is (byte)'e' or (byte)'E' && !n.Integer)
                {
                    output.Add(new Frame(n, f.Parent, NumE, f.Depth));
                }

                Step(Pop(f), b, output);
                return;
            case NumDot:
                if (digit)
                {
                    output.Add(new Frame(n, f.Parent, NumFrac, f.Depth, 1));
                }

                return;
            case NumFrac:
                if (digit && f.A < MaxFractionDigits)
                {
                    output.Add(new Frame(n, f.Parent, NumFrac, f.Depth, f.A + 1));
                }
                else if (b is (byte)'e' or (byte)'E')
                {
                    output.Add(new Frame(n, f.Parent, NumE, f.Depth));
                }

                Step(Pop(f), b, output);
                return;
            case NumE:
                if (b is (byte)'+' or (byte)'-')
                {
                    output.Add(new Frame(n, f.Parent, NumESign, f.Depth));
                }
                else if (digit)
                {
                    output.Add(new Frame(n, f.Parent, NumExp, f.Depth, 1));
                }

                return;
            case NumESign:
                if (digit)
                {
                    output.Add(new Frame(n, f.Parent, NumExp, f.Depth, 1));
                }

                return;
            case NumExp:
                if (digit && f.A < MaxExponentDigits)
                {
                    output.Add(new Frame(n, f.Parent, NumExp, f.Depth, f.A + 1));
                }

                Step(Pop(f), b, output);
                return;
        }
    }

    private static bool IsHex(byte b) => b is >= (byte)'0' and <= (byte)'9' or >= (byte)'a' and <= (byte)'f' or >= (byte)'A' and <= (byte)'F';

    /// <summary>
    /// UTF-8 well-formedness, one byte at a time. State 0: at a character boundary; otherwise the bytes still
    /// missing (low 2 bits) and the range the next one must fall in (bits 2-4: 0 any continuation, 1 A0-BF, 2 80-9F,
    /// 3 90-BF, 4 80-8F; the narrower ranges rule out overlong forms, surrogates and code points above U+10FFFF).
    /// </summary>
    /// <returns>The next state, or -1 when the byte cannot come here.</returns>
    public static int Utf8Next(int state, byte b)
    {
        if (state == 0)
        {
            return b switch
            {
                < 0x80 => 0,
                < 0xC2 => -1,
                < 0xE0 => 1,
                0xE0 => 2 | (1 << 2),
                0xED => 2 | (2 << 2),
                < 0xF0 => 2,
                0xF0 => 3 | (3 << 2),
                < 0xF4 => 3,
                0xF4 => 3 | (4 << 2),
                _ => -1,
            };
        }

        var (low, high) = (state >> 2) switch
        {
            1 => (0xA0, 0xBF),
            2 => (0x80, 0x9F),
            3 => (0x90, 0xBF),
            4 => (0x80, 0x8F),
            _ => (0x80, 0xBF),
        };
        return b >= low && b <= high ? (state & 3) - 1 : -1;
    }
}
