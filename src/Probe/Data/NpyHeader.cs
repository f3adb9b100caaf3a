using System.Globalization;
using System.Text;

namespace Probe.Data;

/// <summary>
/// Parses the Python dict literal of an .npy header ({'descr': '&lt;f4', 'fortran_order': False, 'shape': (3, 4), })
/// with a small tokenizer for strings, integers, True/False/None, tuples, lists and dicts.
/// </summary>
internal static class NpyHeader
{
    public static (string Descr, bool FortranOrder, long[] Shape) Parse(string text, string path)
    {
        var p = new Parser(text, path);
        object? value;
        try
        {
            value = p.ParseValue();
            p.SkipSpace();
            if (!p.AtEnd) throw p.Error("unexpected text after the header dict");
        }
        catch (FormatException e) { throw new ProbeException($"NPY file '{path}' has an unreadable header ({e.Message}): {Quote(text)}"); }
        if (value is not Dictionary<string, object?> dict)
            throw new ProbeException($"NPY file '{path}' has a header that is not a dict: {Quote(text)}");
        foreach (var key in dict.Keys)
            if (key is not ("descr" or "fortran_order" or "shape"))
                throw new ProbeException($"NPY file '{path}' has an unexpected header key '{key}'; an .npy header holds exactly 'descr', 'fortran_order' and 'shape'.");
        foreach (var key in new[] { "descr", "fortran_order", "shape" })
            if (!dict.ContainsKey(key))
                throw new ProbeException($"NPY file '{path}' has no '{key}' in its header: {Quote(text)}");
        string descr = dict["descr"] switch
        {
            string s => s,
            List<object?> => throw new ProbeException($"NPY file '{path}' holds a structured array (its 'descr' is a list); Probe reads plain numeric arrays only."),
            var other => throw new ProbeException($"NPY file '{path}' has a 'descr' that is not a string ({other ?? "None"})."),
        };
        if (dict["fortran_order"] is not bool fortran)
            throw new ProbeException($"NPY file '{path}' has a 'fortran_order' that is not True or False.");
        if (dict["shape"] is not Tuple shapeTuple)
            throw new ProbeException($"NPY file '{path}' has a 'shape' that is not a tuple.");
        var shape = new long[shapeTuple.Items.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            if (shapeTuple.Items[i] is not long d)
                throw new ProbeException($"NPY file '{path}' has a non-integer entry in its 'shape'.");
            shape[i] = d;
        }
        return (descr, fortran, shape);
    }

    static string Quote(string s) => s.Length > 200 ? s[..200] + "..." : s.TrimEnd();

    sealed record Tuple(List<object?> Items);

    sealed class Parser(string text, string path)
    {
        int _pos;
        public bool AtEnd => _pos >= text.Length;

        public FormatException Error(string what) => new($"{what} at character {_pos}");

        public void SkipSpace()
        {
            while (_pos < text.Length && char.IsWhiteSpace(text[_pos])) _pos++;
        }

        char Peek() { SkipSpace(); if (AtEnd) throw Error("unexpected end"); return text[_pos]; }

        void Expect(char c)
        {
            if (Peek() != c) throw Error($"expected '{c}'");
            _pos++;
        }

        public object? ParseValue()
        {
            char c = Peek();
            switch (c)
            {
                case '{': return ParseDict();
                case '(': return new Tuple(ParseSequence('(', ')'));
                case '[': return ParseSequence('[', ']');
                case '\'' or '"': return ParseString();
            }
            if (c == '-' || c == '+' || char.IsDigit(c)) return ParseInt();
            if (char.IsLetter(c))
            {
                int start = _pos;
                while (_pos < text.Length && char.IsLetter(text[_pos])) _pos++;
                string word = text[start.._pos];
                return word switch
                {
                    "True" => true,
                    "False" => false,
                    "None" => null,
                    _ => throw Error($"unknown word '{word}'"),
                };
            }
            throw Error($"unexpected character '{c}'");
        }

        Dictionary<string, object?> ParseDict()
        {
            Expect('{');
            var d = new Dictionary<string, object?>(StringComparer.Ordinal);
            while (Peek() != '}')
            {
                if (ParseValue() is not string key) throw Error("dict keys must be strings");
                Expect(':');
                if (!d.TryAdd(key, ParseValue())) throw new ProbeException($"NPY file '{path}' repeats the header key '{key}'.");
                if (Peek() == ',') _pos++;
                else if (Peek() != '}') throw Error("expected ',' or '}'");
            }
            _pos++;
            return d;
        }

        List<object?> ParseSequence(char open, char close)
        {
            Expect(open);
            var items = new List<object?>();
            while (Peek() != close)
            {
                items.Add(ParseValue());
                if (Peek() == ',') _pos++;
                else if (Peek() != close) throw Error($"expected ',' or '{close}'");
            }
            _pos++;
            return items;
        }

        string ParseString()
        {
            char q = text[_pos++];
            var sb = new StringBuilder();
            while (true)
            {
                if (AtEnd) throw Error("unterminated string");
                char c = text[_pos++];
                if (c == q) return sb.ToString();
                if (c == '\\')
                {
                    if (AtEnd) throw Error("unterminated string");
                    sb.Append(text[_pos++]);
                }
                else sb.Append(c);
            }
        }

        long ParseInt()
        {
            int start = _pos;
            if (text[_pos] is '-' or '+') _pos++;
            while (_pos < text.Length && char.IsDigit(text[_pos])) _pos++;
            string digits = text[start.._pos];
            if (_pos < text.Length && text[_pos] is 'L' or 'l') _pos++; // Python 2 longs: (3L, 4L)
            if (!long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
                throw Error($"bad integer '{digits}'");
            return v;
        }
    }
}
