using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Probe;

/// <summary>
/// A dense row-major float32 matrix: rows are samples, columns are features (units). The one array type that
/// Probe's math, analyzers and file formats exchange. <see cref="Data"/> is exposed for fast loops.
/// </summary>
public sealed class Matrix
{
    public int Rows { get; }
    public int Cols { get; }
    public float[] Data { get; }

    public Matrix(int rows, int cols) : this(rows, cols, new float[checked(rows * cols)]) { }

    public Matrix(int rows, int cols, float[] data)
    {
        if (rows < 0 || cols < 0) throw new ProbeException($"A matrix cannot have negative size ({rows} x {cols}).");
        ArgumentNullException.ThrowIfNull(data);
        if ((long)rows * cols != data.Length)
            throw new ProbeException($"A {rows} x {cols} matrix needs {(long)rows * cols} values, got {data.Length}.");
        Rows = rows; Cols = cols; Data = data;
    }

    /// <summary>Builds a matrix from a function of (row, column).</summary>
    public static Matrix Create(int rows, int cols, Func<int, int, float> value)
    {
        var m = new Matrix(rows, cols);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                m.Data[i * cols + j] = value(i, j);
        return m;
    }

    /// <summary>Builds a matrix from a jagged array (all rows the same length).</summary>
    public static Matrix FromRows(IReadOnlyList<float[]> rows)
    {
        int cols = rows.Count == 0 ? 0 : rows[0].Length;
        var m = new Matrix(rows.Count, cols);
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != cols) throw new ProbeException($"Row {i} has {rows[i].Length} values; row 0 has {cols}.");
            rows[i].CopyTo(m.Data, i * cols);
        }
        return m;
    }

    public ref float this[int row, int col] => ref Data[row * Cols + col];

    public Span<float> Row(int row) => Data.AsSpan(row * Cols, Cols);

    /// <summary>A copy of rows [start, start + count).</summary>
    public Matrix Slice(int start, int count)
    {
        if (start < 0 || count < 0 || start + count > Rows) throw new ProbeException($"Rows {start}..{start + count} are outside a matrix of {Rows} rows.");
        var data = new float[count * Cols];
        Array.Copy(Data, (long)start * Cols, data, 0, (long)count * Cols);
        return new Matrix(count, Cols, data);
    }

    /// <summary>A copy of the given rows, in the given order.</summary>
    public Matrix SelectRows(IReadOnlyList<int> rows)
    {
        var m = new Matrix(rows.Count, Cols);
        for (int i = 0; i < rows.Count; i++)
        {
            int r = rows[i];
            if ((uint)r >= (uint)Rows) throw new ProbeException($"Row {r} is outside a matrix of {Rows} rows.");
            Array.Copy(Data, (long)r * Cols, m.Data, (long)i * Cols, Cols);
        }
        return m;
    }

    /// <summary>A copy of the given columns, in the given order.</summary>
    public Matrix SelectColumns(IReadOnlyList<int> cols)
    {
        var m = new Matrix(Rows, cols.Count);
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < cols.Count; j++)
                m.Data[i * cols.Count + j] = Data[i * Cols + cols[j]];
        return m;
    }

    /// <summary>Element [i, j] as double.</summary>
    public double At(int row, int col) => Data[row * Cols + col];

    /// <summary>Values as a double[rows, cols] array.</summary>
    public double[,] ToDouble2D()
    {
        var a = new double[Rows, Cols];
        for (int i = 0; i < Rows; i++)
            for (int j = 0; j < Cols; j++)
                a[i, j] = Data[i * Cols + j];
        return a;
    }

    /// <summary>The number of NaN or infinite values.</summary>
    public long CountNonFinite() => CountNonFinite(Data);

    /// <summary>
    /// The number of NaN and ±Inf values: exactly the values for which v - v is not 0, checked a vector at a time;
    /// only a span that has some is counted value by value.
    /// </summary>
    public static long CountNonFinite(ReadOnlySpan<float> values)
    {
        if (!AnyNonFinite(values)) return 0;
        long bad = 0;
        foreach (var v in values) if (!float.IsFinite(v)) bad++;
        return bad;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into <paramref name="destination"/> and returns whether every value was finite,
    /// in the same pass (the check of <see cref="CountNonFinite(ReadOnlySpan{float})"/> without reading the data again).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static bool CopyAllFinite(ReadOnlySpan<float> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("The destination is shorter than the source.", nameof(destination));
        int i = 0, n = source.Length;
        bool finite = true;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            // Four vectors a step through unchecked references (bounds checked once above), two accumulators of v - v.
            ref float src = ref MemoryMarshal.GetReference(source);
            ref float dst = ref MemoryMarshal.GetReference(destination);
            var a0 = Vector256<float>.Zero; var a1 = a0;
            for (; i <= n - 32; i += 32)
            {
                var v0 = Vector256.LoadUnsafe(ref src, (nuint)i);
                var v1 = Vector256.LoadUnsafe(ref src, (nuint)(i + 8));
                var v2 = Vector256.LoadUnsafe(ref src, (nuint)(i + 16));
                var v3 = Vector256.LoadUnsafe(ref src, (nuint)(i + 24));
                v0.StoreUnsafe(ref dst, (nuint)i); v1.StoreUnsafe(ref dst, (nuint)(i + 8));
                v2.StoreUnsafe(ref dst, (nuint)(i + 16)); v3.StoreUnsafe(ref dst, (nuint)(i + 24));
                a0 |= (v0 - v0) | (v1 - v1); a1 |= (v2 - v2) | (v3 - v3);
            }
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref src, (nuint)i);
                v.StoreUnsafe(ref dst, (nuint)i);
                a0 |= v - v;
            }
            finite = (a0 | a1) == Vector256<float>.Zero;
        }
        for (; i < n; i++)
        {
            destination[i] = source[i];
            finite &= float.IsFinite(source[i]);
        }
        return finite;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static bool AnyNonFinite(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated && values.Length >= System.Numerics.Vector<float>.Count)
        {
            var any = System.Numerics.Vector<float>.Zero;
            var vectors = System.Runtime.InteropServices.MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(values);
            foreach (var v in vectors) any |= v - v;
            if (any != System.Numerics.Vector<float>.Zero) return true;
            i = vectors.Length * System.Numerics.Vector<float>.Count;
        }
        for (; i < values.Length; i++) if (!float.IsFinite(values[i])) return true;
        return false;
    }

    /// <summary>Throws a <see cref="ProbeException"/> naming <paramref name="what"/> when any value is NaN or infinite.</summary>
    public Matrix EnsureFinite(string what)
    {
        long bad = CountNonFinite();
        if (bad > 0)
        {
            int first = Array.FindIndex(Data, v => !float.IsFinite(v));
            throw new ProbeException($"{what} has {bad} non-finite value(s) (NaN or infinity), the first at row {first / Math.Max(1, Cols)}, column {first % Math.Max(1, Cols)}; refusing to compute statistics from it.");
        }
        return this;
    }

    /// <summary>Throws when the matrix has no rows or no columns.</summary>
    public Matrix EnsureNotEmpty(string what)
    {
        if (Rows == 0 || Cols == 0) throw new ProbeException($"{what} is empty ({Rows} x {Cols}).");
        return this;
    }

    public override string ToString() => $"Matrix {Rows} x {Cols}";
}
