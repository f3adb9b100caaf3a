using System.Globalization;

namespace Probe.Reporting;

/// <summary>Input checks that throw <see cref="ProbeException"/> with the figure and field named.</summary>
internal static class Check
{
    public static string S(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    public static void NotNull(object? value, string figure, string what)
    {
        if (value is null) throw new ProbeException($"{figure}: {what} is missing (null).");
    }

    public static void Finite(double[] values, string figure, string what)
    {
        NotNull(values, figure, what);
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new ProbeException($"{figure}: {what}[{i}] is {S(values[i])}; figures need finite numbers.");
    }

    public static void NotEmpty<T>(IReadOnlyCollection<T>? values, string figure, string what)
    {
        if (values is null || values.Count == 0) throw new ProbeException($"{figure}: {what} is empty.");
    }

    public static void Length<T>(IReadOnlyCollection<T>? values, int expected, string figure, string what, string against)
    {
        if (values is null) throw new ProbeException($"{figure}: {what} is missing (null).");
        if (values.Count != expected)
            throw new ProbeException($"{figure}: {what} has {values.Count} entries but {against} has {expected}.");
    }

    public static double[,] Matrix(double[][] rows, string figure, string what, bool allowEmpty = false)
    {
        NotNull(rows, figure, what);
        if (!allowEmpty && rows.Length == 0) throw new ProbeException($"{figure}: {what} has no rows.");
        int cols = rows.Length == 0 ? 0 : rows[0]?.Length ?? 0;
        if (!allowEmpty && cols == 0) throw new ProbeException($"{figure}: {what} has no columns.");
        var m = new double[rows.Length, cols];
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i] is null) throw new ProbeException($"{figure}: {what} row {i} is missing (null).");
            if (rows[i].Length != cols)
                throw new ProbeException($"{figure}: {what} is ragged: row {i} has {rows[i].Length} values, row 0 has {cols}.");
            for (int j = 0; j < cols; j++)
            {
                double v = rows[i][j];
                if (!double.IsFinite(v))
                    throw new ProbeException($"{figure}: {what}[{i}][{j}] is {S(v)}; figures need finite numbers.");
                m[i, j] = v;
            }
        }
        return m;
    }

    public static void Labels(int[] labels, int classes, string figure)
    {
        NotNull(labels, figure, "labels");
        for (int i = 0; i < labels.Length; i++)
            if (labels[i] < 0 || labels[i] >= classes)
                throw new ProbeException($"{figure}: labels[{i}] = {labels[i]} is outside 0..{classes - 1} (there are {classes} class names).");
    }

    public static void Range(double min, double max, string figure, string what)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max) || !(max > min))
            throw new ProbeException($"{figure}: {what} [{S(min)}, {S(max)}] is not a valid range (need finite min < max).");
    }
}
