using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Probe.Projection;

/// <summary>
/// Exact k-nearest-neighbour search for t-SNE in managed code: squared distances ||a||^2 + ||b||^2 - 2 a.b in float32
/// by SIMD over a transposed copy of the data (4 query rows x 16 columns per step), a bounded max-heap keeping
/// k + <see cref="Spare"/> candidates per row, then the candidates' distances recomputed in double and re-ranked (ties
/// by index). Exact unless float32 rounding pushes a true neighbour beyond the spare candidates. Rows are
/// independent, so the result does not depend on scheduling.
/// </summary>
internal static class TsneKnn
{
    /// <summary>Extra float32 candidates kept per row before the double-precision re-ranking.</summary>
    public const int Spare = 8;
    const int RowBlock = 4;

    /// <summary>The k nearest other rows of each row (nearest first) and their squared distances (double), n x k row-major.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (int[] Idx, double[] D2) Search(Matrix x, int k)
    {
        int n = x.Rows, d = x.Cols;
        int cand = Math.Min(n - 1, k + Spare);
        int w = Vector256<float>.Count;
        int stride = (n + 2 * w - 1) / (2 * w) * (2 * w); // columns padded to whole 16-column steps
        var xt = new float[d * stride];
        var sq = new float[stride];
        Parallel.For(0, (n + 255) / 256, b =>
        {
            for (int i = b * 256, e = Math.Min(n, i + 256); i < e; i++)
            {
                var row = x.Row(i);
                float s = 0;
                for (int c = 0; c < d; c++) { xt[c * stride + i] = row[c]; s += row[c] * row[c]; }
                sq[i] = s;
            }
        });
        var idx = new int[n * k];
        var d2 = new double[n * k];
        int blocks = (n + RowBlock - 1) / RowBlock;
        // a fixed number of contiguous ranges of row blocks, each with its own scratch (allocated once per range)
        int ranges = Math.Min(blocks, 4 * Environment.ProcessorCount);
        Parallel.For(0, ranges, range =>
        {
            var s = new Scratch(stride, cand, d);
            for (int blk = (int)((long)blocks * range / ranges), end = (int)((long)blocks * (range + 1) / ranges); blk < end; blk++)
            {
                int i0 = blk * RowBlock, rows = Math.Min(RowBlock, n - i0);
                Distances(x, xt, sq, stride, d, i0, rows, s.Dist, s.Rows);
                for (int r = 0; r < rows; r++)
                {
                    int i = i0 + r;
                    var dist = s.Dist.AsSpan(r * stride, n);
                    dist[i] = float.PositiveInfinity;
                    int m = SmallestByHeap(dist, cand, s.HeapD, s.HeapI);
                    var xi = x.Row(i);
                    for (int c = 0; c < m; c++) { s.CandI[c] = s.HeapI[c]; s.CandD[c] = NearestNeighbours.SquaredDistance(xi, x.Row(s.HeapI[c])); }
                    NearestNeighbours.SelectSmallest(s.CandD, s.CandI, m, k);
                    Array.Copy(s.CandI, 0, idx, (long)i * k, k);
                    Array.Copy(s.CandD, 0, d2, (long)i * k, k);
                }
            }
        });
        return (idx, d2);
    }

    sealed class Scratch(int stride, int cand, int d)
    {
        public readonly float[] Rows = new float[RowBlock * d];
        public readonly float[] Dist = new float[RowBlock * stride];
        public readonly float[] HeapD = new float[cand];
        public readonly int[] HeapI = new int[cand];
        public readonly double[] CandD = new double[cand];
        public readonly int[] CandI = new int[cand];
    }

    /// <summary>dist[r * stride + j] = ||x_i||^2 + ||x_j||^2 - 2 x_i . x_j for rows i = i0 + r, all columns j (float32).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Distances(Matrix x, float[] xt, float[] sq, int stride, int d, int i0, int rows, float[] dist, float[] a)
    {
        int w = Vector256<float>.Count;
        Array.Clear(a);
        for (int r = 0; r < rows; r++) x.Row(i0 + r).CopyTo(a.AsSpan(r * d, d));
        var s0 = Vector256.Create(sq[i0]);
        var s1 = Vector256.Create(rows > 1 ? sq[i0 + 1] : 0f);
        var s2 = Vector256.Create(rows > 2 ? sq[i0 + 2] : 0f);
        var s3 = Vector256.Create(rows > 3 ? sq[i0 + 3] : 0f);
        var minus2 = Vector256.Create(-2f);
        // bounds: xt has d * stride entries and j + 2w <= stride, so every load below stays inside xt; a has 4d entries
        ref float xRef = ref MemoryMarshal.GetArrayDataReference(xt);
        ref float aRef = ref MemoryMarshal.GetArrayDataReference(a);
        for (int j = 0; j < stride; j += 2 * w)
        {
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default, a30 = default, a31 = default;
            ref float colRef = ref Unsafe.Add(ref xRef, j);
            for (int c = 0; c < d; c++)
            {
                var v0 = Vector256.LoadUnsafe(ref colRef);
                var v1 = Vector256.LoadUnsafe(ref colRef, (nuint)w);
                colRef = ref Unsafe.Add(ref colRef, stride);
                var b0 = Vector256.Create(Unsafe.Add(ref aRef, c)); var b1 = Vector256.Create(Unsafe.Add(ref aRef, d + c));
                var b2 = Vector256.Create(Unsafe.Add(ref aRef, 2 * d + c)); var b3 = Vector256.Create(Unsafe.Add(ref aRef, 3 * d + c));
                a00 = Vector256.FusedMultiplyAdd(b0, v0, a00); a01 = Vector256.FusedMultiplyAdd(b0, v1, a01);
                a10 = Vector256.FusedMultiplyAdd(b1, v0, a10); a11 = Vector256.FusedMultiplyAdd(b1, v1, a11);
                a20 = Vector256.FusedMultiplyAdd(b2, v0, a20); a21 = Vector256.FusedMultiplyAdd(b2, v1, a21);
                a30 = Vector256.FusedMultiplyAdd(b3, v0, a30); a31 = Vector256.FusedMultiplyAdd(b3, v1, a31);
            }
            var sqj = sq.AsSpan(j, 2 * w);
            var q0 = Vector256.Create((ReadOnlySpan<float>)sqj[..w]);
            var q1 = Vector256.Create((ReadOnlySpan<float>)sqj[w..]);
            Vector256.FusedMultiplyAdd(minus2, a00, s0 + q0).CopyTo(dist.AsSpan(j));
            Vector256.FusedMultiplyAdd(minus2, a01, s0 + q1).CopyTo(dist.AsSpan(j + w));
            if (rows > 1) { Vector256.FusedMultiplyAdd(minus2, a10, s1 + q0).CopyTo(dist.AsSpan(stride + j)); Vector256.FusedMultiplyAdd(minus2, a11, s1 + q1).CopyTo(dist.AsSpan(stride + j + w)); }
            if (rows > 2) { Vector256.FusedMultiplyAdd(minus2, a20, s2 + q0).CopyTo(dist.AsSpan(2 * stride + j)); Vector256.FusedMultiplyAdd(minus2, a21, s2 + q1).CopyTo(dist.AsSpan(2 * stride + j + w)); }
            if (rows > 3) { Vector256.FusedMultiplyAdd(minus2, a30, s3 + q0).CopyTo(dist.AsSpan(3 * stride + j)); Vector256.FusedMultiplyAdd(minus2, a31, s3 + q1).CopyTo(dist.AsSpan(3 * stride + j + w)); }
        }
    }

    /// <summary>
    /// The indices of the m = min(cand, count of finite entries) smallest values of <paramref name="dist"/> (unordered) in
    /// heapI[0..m), by a max-heap on (distance, index); returns m.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static int SmallestByHeap(ReadOnlySpan<float> dist, int cand, float[] heapD, int[] heapI)
    {
        int size = 0, j = 0;
        for (; j < dist.Length && size < cand; j++)
        {
            float v = dist[j];
            if (float.IsPositiveInfinity(v)) continue;
            int pos = size++; // sift up
            while (pos > 0)
            {
                int parent = (pos - 1) >> 1;
                if (!Greater(v, j, heapD[parent], heapI[parent])) break;
                heapD[pos] = heapD[parent]; heapI[pos] = heapI[parent]; pos = parent;
            }
            heapD[pos] = v; heapI[pos] = j;
        }
        if (size < cand) return size;
        // full heap: only values strictly below the root enter (ties keep the earlier, smaller index); 8 at a time
        int w = Vector256<float>.Count;
        for (; j < dist.Length && j % w != 0; j++)
            if (dist[j] < heapD[0]) SiftDown(heapD, heapI, size, dist[j], j);
        ref float dRef = ref MemoryMarshal.GetReference(dist);
        var root = Vector256.Create(heapD[0]);
        for (; j + w <= dist.Length; j += w)
        {
            uint mask = Vector256.LessThan(Vector256.LoadUnsafe(ref dRef, (nuint)j), root).ExtractMostSignificantBits();
            if (mask == 0) continue;
            for (int t = 0; t < w; t++)
                if (dist[j + t] < heapD[0]) SiftDown(heapD, heapI, size, dist[j + t], j + t);
            root = Vector256.Create(heapD[0]);
        }
        for (; j < dist.Length; j++)
            if (dist[j] < heapD[0]) SiftDown(heapD, heapI, size, dist[j], j);
        return size;
    }

    /// <summary>Replaces the root of the max-heap by (v, id) and restores the heap.</summary>
    static void SiftDown(float[] heapD, int[] heapI, int size, float v, int id)
    {
        int pos = 0;
        while (true)
        {
            int l = 2 * pos + 1;
            if (l >= size) break;
            int r = l + 1;
            int big = r < size && Greater(heapD[r], heapI[r], heapD[l], heapI[l]) ? r : l;
            if (!Greater(heapD[big], heapI[big], v, id)) break;
            heapD[pos] = heapD[big]; heapI[pos] = heapI[big]; pos = big;
        }
        heapD[pos] = v; heapI[pos] = id;
    }

    static bool Greater(float d1, int i1, float d2, int i2) => d1 > d2 || (d1 == d2 && i1 > i2);
}
