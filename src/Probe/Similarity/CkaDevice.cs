using TorchSharp;
using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Similarity;

/// <summary>
/// Linear CKA's cross products on a libtorch device (a CUDA GPU; the CPU for tests): the same sums as
/// <see cref="CkaEngine.CrossNormsSquared(IReadOnlyList{CkaRows}, IReadOnlyList{ValueTuple{int, int}}, bool, double[][], int, int)"/>,
/// formed where the device is, one chunk of rows at a time.
/// <para>
/// Two passes over the rows: the first sums each layer's columns in float64 (exact means), the second copies each
/// chunk to the device, centres it there (X - 1 mean', float32 when asked for single precision, else float64) and adds
/// Z_p' Z_q to a float64 accumulator per pair; ||X_p' X_q||_F^2 is read from the accumulators at the end. Memory on
/// the device: one chunk per layer and the d_p x d_q accumulators. Squared row norms of the centred rows are recorded
/// when asked (the debiased estimator).
/// </para>
/// </summary>
internal static class CkaDevice
{
    /// <summary>Rows per chunk: about 2^24 values over all layers, at least 256.</summary>
    internal const long ChunkElements = 1L << 24;

    internal static double[] CrossNormsSquared(IReadOnlyList<CkaRows> layers, IReadOnlyList<(int P, int Q)> pairs, bool single,
                                               Device device, double[]?[]? rowNormsSquared = null, int chunkRows = 0)
    {
        if (pairs.Count == 0) return [];
        int n = layers[0].Rows;
        var used = pairs.SelectMany(pq => new[] { pq.P, pq.Q }).Distinct().OrderBy(i => i).ToArray();
        long width = used.Sum(i => (long)layers[i].Cols);
        if (chunkRows <= 0) chunkRows = (int)Math.Clamp(ChunkElements / Math.Max(1, width), 256, 65536);
        chunkRows = Math.Max(1, Math.Min(chunkRows, n));
        var type = single ? ScalarType.Float32 : ScalarType.Float64;

        using var scope = NewDisposeScope();
        // Pass 1: column sums in float64 on the device (the float32 chunk is widened there).
        var sums = used.ToDictionary(i => i, i => zeros(layers[i].Cols, dtype: ScalarType.Float64, device: device));
        for (int start = 0; start < n; start += chunkRows)
        {
            int count = Math.Min(chunkRows, n - start);
            foreach (int i in used)
                using (var inner = NewDisposeScope())
                    sums[i].add_(Chunk(layers[i], start, count, chunkRows, device).to_type(ScalarType.Float64).sum(dim: 0));
        }
        var means = used.ToDictionary(i => i, i => sums[i].div(n).to_type(type));

        // Pass 2: centred chunks, products accumulated in float64.
        var acc = pairs.Select(pq => zeros(layers[pq.P].Cols, layers[pq.Q].Cols, dtype: ScalarType.Float64, device: device)).ToArray();
        for (int start = 0; start < n; start += chunkRows)
        {
            int count = Math.Min(chunkRows, n - start);
            using var inner = NewDisposeScope();
            var z = used.ToDictionary(i => i, i => Chunk(layers[i], start, count, chunkRows, device).to_type(type).sub_(means[i]));
            for (int k = 0; k < pairs.Count; k++)
            {
                var (p, q) = pairs[k];
                acc[k].add_(z[p].t().mm(z[q]).to_type(ScalarType.Float64));
            }
            if (rowNormsSquared != null)
                foreach (int i in used)
                    if (rowNormsSquared[i] is { } norms)
                    {
                        var sq = z[i].to_type(ScalarType.Float64).square().sum(dim: 1).cpu();
                        sq.CopyValuesTo<double>(norms.AsSpan(start, count));
                    }
        }
        return acc.Select(a => a.square().sum().item<double>()).ToArray();
    }

    // Rows [start, start + count) of a layer as a float32 tensor on the device (copied from where CkaRows has them).
    private static unsafe Tensor Chunk(CkaRows rows, int start, int count, int capacity, Device device)
    {
        float* p = rows.Read(start, count, capacity);
        var host = empty(count, rows.Cols, dtype: ScalarType.Float32);
        new ReadOnlySpan<float>(p, checked(count * rows.Cols)).CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(host.bytes));
        return device.type == DeviceType.CPU ? host : host.to(device);
    }
}
