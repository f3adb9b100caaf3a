using System.Globalization;

namespace Probe.Data;

/// <summary>
/// Reads numeric CSV files (invariant culture, comma-separated, or tab-separated when the first line has tabs and
/// no commas) into a <see cref="Dataset"/>: every column is a feature except the label column.
/// </summary>
public static class Csv
{
    /// <summary>
    /// Reads <paramref name="path"/>. <paramref name="labelColumn"/> is "last", "first", "none", a header name, or a
    /// 0-based column index. <paramref name="hasHeader"/> null detects a header: the first line is one when a field
    /// of it is not a number while the same field of the second line is (or when no field of it is a number).
    /// Labels that are non-negative integers are used as they are; other labels are class names, kept as the data's
    /// <see cref="Dataset.ClassNames"/> and numbered 0.. in numeric order when every one is a number (-1, 9, 10) and
    /// otherwise in ordinal sort order of their text (setosa, virginica).
    /// </summary>
    public static Dataset Read(string path, string labelColumn = "last", bool? hasHeader = null)
    {
        if (!File.Exists(path)) throw new ProbeException($"CSV file '{path}' does not exist.");
        List<(int LineNo, string[] Fields)> rows = [];
        char sep = ',';
        bool sepChosen = false;
        int lineNo = 0;
        try
        {
            foreach (var raw in File.ReadLines(path))
            {
                lineNo++;
                var line = raw.TrimEnd('\r');
                if (string.IsNullOrWhiteSpace(line)) continue;
                if (!sepChosen) { sep = line.Contains('\t') && !line.Contains(',') ? '\t' : ','; sepChosen = true; }
                rows.Add((lineNo, SplitLine(line, sep, path, lineNo)));
            }
        }
        catch (IOException e) { throw new ProbeException($"Cannot read CSV file '{path}': {e.Message}", e); }
        if (rows.Count == 0) throw new ProbeException($"CSV file '{path}' is empty.");

        bool header = hasHeader ?? DetectHeader(rows);
        string[]? names = header ? rows[0].Fields : null;
        var data = header ? rows.Skip(1).ToList() : rows;
        if (data.Count == 0) throw new ProbeException($"CSV file '{path}' has a header but no data rows.");
        int width = data[0].Fields.Length;
        if (names != null && names.Length != width)
            throw new ProbeException($"CSV file '{path}': the header (line {rows[0].LineNo}) has {names.Length} columns but line {data[0].LineNo} has {width}.");
        foreach (var (ln, f) in data)
            if (f.Length != width)
                throw new ProbeException($"CSV file '{path}', line {ln}: {f.Length} values where earlier rows have {width} (ragged rows).");

        int label = ResolveLabel(labelColumn, names, width, path);
        int cols = label < 0 ? width : width - 1;
        if (cols == 0) throw new ProbeException($"CSV file '{path}' has no feature columns besides the label.");
        var m = new Matrix(data.Count, cols);
        var labelText = label < 0 ? null : new string[data.Count];
        for (int i = 0; i < data.Count; i++)
        {
            var (ln, f) = data[i];
            int c = 0;
            for (int j = 0; j < width; j++)
            {
                if (j == label) { labelText![i] = f[j]; continue; }
                if (!float.TryParse(f[j], NumberStyles.Float, CultureInfo.InvariantCulture, out float v))
                    throw new ProbeException($"CSV file '{path}', line {ln}, column {j + 1}{ColumnName(names, j)}: '{f[j]}' is not a number.");
                if (!float.IsFinite(v))
                    throw new ProbeException($"CSV file '{path}', line {ln}, column {j + 1}{ColumnName(names, j)}: '{f[j]}' is not a finite float32 number.");
                m.Data[(long)i * cols + c++] = v;
            }
        }
        var (labels, classNames) = labelText == null ? (null, null) : ToLabels(labelText);
        string name = Path.GetFileNameWithoutExtension(path);
        return new Dataset(name, m, labels, [cols]) { ClassNames = classNames }.Validate();
    }

    static string ColumnName(string[]? names, int j) => names == null ? "" : $" ('{names[j]}')";

    static (int[] Labels, string[]? ClassNames) ToLabels(string[] text)
    {
        var labels = new int[text.Length];
        bool allInts = true;
        for (int i = 0; i < text.Length && allInts; i++)
        {
            if (int.TryParse(text[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0) labels[i] = v;
            else if (double.TryParse(text[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d >= 0 && d <= int.MaxValue && d == Math.Floor(d)) labels[i] = (int)d;
            else allInts = false;
        }
        if (allInts) return (labels, null);
        // Numbers (a -1 class, say) in numeric order: as text, "10" sorts before "9".
        static double? Number(string t) => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null;
        var distinct = text.Distinct(StringComparer.Ordinal);
        var names = (text.All(t => Number(t) is not null) ? distinct.OrderBy(t => Number(t)!.Value).ThenBy(t => t, StringComparer.Ordinal) : distinct.Order(StringComparer.Ordinal)).ToArray();
        var classes = names.Select((s, k) => (s, k)).ToDictionary(p => p.s, p => p.k, StringComparer.Ordinal);
        return (text.Select(t => classes[t]).ToArray(), names);
    }

    static int ResolveLabel(string spec, string[]? names, int width, string path)
    {
        switch (spec.Trim().ToLowerInvariant())
        {
            case "last": return width - 1;
            case "first": return 0;
            case "none": return -1;
        }
        if (names != null)
        {
            int k = Array.FindIndex(names, n => string.Equals(n, spec, StringComparison.Ordinal));
            if (k < 0) k = Array.FindIndex(names, n => string.Equals(n, spec, StringComparison.OrdinalIgnoreCase));
            if (k >= 0) return k;
        }
        if (int.TryParse(spec, NumberStyles.Integer, CultureInfo.InvariantCulture, out int idx))
        {
            if (idx < 0 || idx >= width) throw new ProbeException($"CSV file '{path}': label column index {idx} is outside 0..{width - 1}.");
            return idx;
        }
        throw new ProbeException(names == null
            ? $"CSV file '{path}': label column '{spec}' is not last, first, none or a 0-based index, and the file has no header to look the name up in."
            : $"CSV file '{path}': no column is named '{spec}'; the columns are {string.Join(", ", names)} (or use last, first, none or a 0-based index).");
    }

    static bool DetectHeader(List<(int LineNo, string[] Fields)> rows)
    {
        var first = rows[0].Fields;
        bool IsNum(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _);
        if (first.All(f => !IsNum(f))) return true;
        if (rows.Count < 2) return false;
        var second = rows[1].Fields;
        for (int j = 0; j < Math.Min(first.Length, second.Length); j++)
            if (!IsNum(first[j]) && IsNum(second[j])) return true;
        return false;
    }

    /// <summary>Splits one line; fields may be wrapped in double quotes ("" inside quotes is a quote).</summary>
    static string[] SplitLine(string line, char sep, string path, int lineNo)
    {
        var fields = new List<string>();
        int i = 0;
        while (true)
        {
            string field;
            while (i < line.Length && line[i] == ' ') i++;
            if (i < line.Length && line[i] == '"')
            {
                var sb = new System.Text.StringBuilder();
                i++;
                while (true)
                {
                    if (i >= line.Length) throw new ProbeException($"CSV file '{path}', line {lineNo}: unterminated quoted field.");
                    if (line[i] == '"')
                    {
                        if (i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i += 2; continue; }
                        i++;
                        break;
                    }
                    sb.Append(line[i++]);
                }
                field = sb.ToString();
                while (i < line.Length && line[i] != sep) i++;
            }
            else
            {
                int start = i;
                while (i < line.Length && line[i] != sep) i++;
                field = line[start..i];
            }
            fields.Add(field.Trim());
            if (i >= line.Length) break;
            i++; // separator
        }
        return fields.ToArray();
    }
}
