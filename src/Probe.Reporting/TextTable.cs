using System.Globalization;
using System.Text;

namespace Probe.Reporting;

/// <summary>Plain-text tables for the console: aligned columns, numbers right-aligned, a rule under the header.</summary>
public static class TextTable
{
    /// <summary>Renders headers and rows as aligned text (each line ends with '\n').</summary>
    public static string Render(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(headers);
        ArgumentNullException.ThrowIfNull(rows);
        if (headers.Count == 0) throw new ProbeException("Table: no columns (headers is empty).");
        var body = rows.ToList();
        for (int r = 0; r < body.Count; r++)
            if (body[r] is null || body[r].Count != headers.Count)
                throw new ProbeException($"Table: row {r} has {body[r]?.Count ?? 0} cells but there are {headers.Count} columns.");
        body = [.. AlignDecimals(body)];

        int cols = headers.Count;
        var width = new int[cols];
        var numeric = new bool[cols];
        for (int c = 0; c < cols; c++)
        {
            width[c] = headers[c]?.Length ?? 0;
            numeric[c] = body.Count > 0;
            foreach (var row in body)
            {
                string cell = row[c] ?? "";
                width[c] = Math.Max(width[c], cell.Length);
                if (cell.Length > 0 && !IsNumber(cell)) numeric[c] = false;
            }
        }

        var sb = new StringBuilder();
        void Line(IReadOnlyList<string> cells)
        {
            var parts = new string[cols];
            for (int c = 0; c < cols; c++)
            {
                string cell = cells[c] ?? "";
                parts[c] = numeric[c] ? cell.PadLeft(width[c]) : cell.PadRight(width[c]);
            }
            sb.Append(string.Join("  ", parts).TrimEnd()).Append('\n');
        }
        Line(headers);
        sb.Append(string.Join("  ", width.Select(w => new string('-', w)))).Append('\n');
        foreach (var row in body) Line(row);
        return sb.ToString();
    }

    /// <summary>Formats a number for tables: invariant culture, up to 4 decimals, scientific for very large/small.</summary>
    public static string Number(double value)
    {
        if (!double.IsFinite(value)) throw new ProbeException($"Table: cannot show {value.ToString(CultureInfo.InvariantCulture)}; tables need finite numbers.");
        double a = Math.Abs(value);
        if (a != 0 && (a >= 1e6 || a < 1e-3)) return value.ToString("0.###E+0", CultureInfo.InvariantCulture);
        return value.ToString("0.####", CultureInfo.InvariantCulture);
    }

    /// <summary>Formats one cell value (numbers via <see cref="Number"/>, everything else invariant).</summary>
    public static string Cell(object? value) => value switch
    {
        null => "",
        string s => s,
        double d => Number(d),
        float f => Number(f),
        decimal m => m.ToString(CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable x => x.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>
    /// The rows with every column of plain decimal numbers (digits with at most one point, no exponent, no unit)
    /// shown to the same number of decimals, the most any of its cells has (<see cref="Number"/> gives at most 4):
    /// 0.959 above 0.9499 becomes 0.9590, so a column reads as a paper's table does, points aligned. Columns with
    /// any other cell (text, a percentage, a number in scientific notation) and columns of integers stay as they are;
    /// empty cells and dashes (undefined values) stay as they are in any column.
    /// </summary>
    public static IReadOnlyList<string[]> AlignDecimals(IEnumerable<IReadOnlyList<string>> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var body = rows.Select(r => r.ToArray()).ToList();
        if (body.Count == 0) return body;
        int cols = body.Max(r => r.Length);
        for (int c = 0; c < cols; c++)
        {
            int decimals = 0;
            bool plain = true;
            foreach (var row in body)
            {
                if (c >= row.Length || Blank(row[c])) continue;
                int d = PlainDecimals(row[c]);
                if (d < 0) { plain = false; break; }
                decimals = Math.Max(decimals, d);
            }
            if (!plain || decimals == 0) continue;
            foreach (var row in body)
            {
                if (c >= row.Length || Blank(row[c])) continue;
                int d = PlainDecimals(row[c]);
                row[c] = (d == 0 ? row[c] + "." : row[c]) + new string('0', decimals - d);
            }
        }
        return body;
    }

    // An empty cell or a dash (a value that is undefined) takes no part in its column's places.
    private static bool Blank(string? s) => string.IsNullOrEmpty(s) || s == "-";

    // The decimals of a plain decimal number ("-12", "0.5"), or -1 when the text is anything else.
    private static int PlainDecimals(string s)
    {
        int i = s.Length > 0 && s[0] == '-' ? 1 : 0, digits = 0, point = -1;
        for (; i < s.Length; i++)
        {
            if (char.IsAsciiDigit(s[i])) digits++;
            else if (s[i] == '.' && point < 0) point = i;
            else return -1;
        }
        if (digits == 0 || point == s.Length - 1) return -1;
        return point < 0 ? 0 : s.Length - 1 - point;
    }

    private static bool IsNumber(string s) =>
        double.TryParse(s.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out _);
}
