using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Similarity;

/// <summary>
/// The fast paths of CKA's matrix products, on the host's OpenBLAS when it loads (else libtorch). Data are centred in
/// double, the products run in float64 or (for large biased linear work) float32 over row chunks whose results are
/// accumulated in double.
/// </summary>
internal static class CkaEngine
{
    /// <summary>Largest n x n double Gram stack the full-data Gram path may hold.</summary>
    internal const long GramBudgetBytes = 3L << 29;
    /// <summary>Below this many multiply-adds, Auto keeps every product in double.</summary>
    internal const double AutoSingleThresholdFlops = 2e9;
    /// <summary>Rows per float32 product before its result is added to the double accumulator.</summary>
    internal const int SingleChunkRows = 2048;

    /// <summary>Bytes of the target each centring task writes through one span (a tensor's span is limited to 2 GiB).</summary>
    internal const long CentreChunkBytes = 16L << 20;

    /// <summary>
    /// Writes the column-centred rows of <paramref name="x"/> (x - 1 mean', the mean and the subtraction in double,
    /// then rounded to the target's type) into the first rows of a contiguous float32 or float64 tensor. Chunks of
    /// <paramref name="chunkRows"/> rows (default: about 16 MB of target each) are written on all cores, each through
    /// its own span, so no single span covers more than one chunk whatever the size of the target.
    /// </summary>
    internal static void WriteCentred(Matrix x, Tensor target, int chunkRows = 0)
    {
        int n = x.Rows, d = x.Cols;
        if (n == 0 || d == 0) return;
        if (target.dim() != 2 || target.shape[1] != d || target.shape[0] < n || !target.is_contiguous()
            || target.dtype is not (ScalarType.Float32 or ScalarType.Float64))
            throw new ArgumentException("The target must be a contiguous float32 or float64 tensor of at least rows x cols.", nameof(target));
        var mean = CkaMath.ColumnMeans(x);
        var src = x.Data;
        bool single = target.dtype == ScalarType.Float32;
        if (chunkRows <= 0) chunkRows = (int)Math.Clamp(CentreChunkBytes / ((long)d * (single ? 4 : 8)), 1, n);
        int chunks = (n + chunkRows - 1) / chunkRows;
        Parallel.For(0, chunks, c =>
        {
            int s0 = c * chunkRows, rows = Math.Min(chunkRows, n - s0);
            using var part = target.narrow(0, s0, rows);
            if (single)
            {
                var dst = MemoryMarshal.Cast<byte, float>(part.bytes);
                for (int i = 0; i < rows; i++)
                {
                    long o = (long)(s0 + i) * d;
                    int t = i * d;
                    for (int j = 0; j < d; j++) dst[t + j] = (float)(src[o + j] - mean[j]);
                }
            }
            else
            {
                var dst = MemoryMarshal.Cast<byte, double>(part.bytes);
                for (int i = 0; i < rows; i++)
                {
                    long o = (long)(s0 + i) * d;
                    int t = i * d;
                    for (int j = 0; j < d; j++) dst[t + j] = src[o + j] - mean[j];
                }
            }
        });
    }

    /// <summary>Column blocks of the symmetric products X_p' X_p: only blocks on or above the diagonal are formed.</summary>
    internal const int SymmetricBlockCols = 512;
    /// <summary>Elements of the centred row chunk (rows x all used columns) the feature-space path holds at once.</summary>
    internal const long ChunkElements = 1L << 22;
    /// <summary>
    /// Most values of the centred row chunk on the OpenBLAS path (16 MB of float32, at least 2,048 rows): small enough
    /// to stay in this machine's 32 MB L3 between its centring and its products, and to fault in quickly (a 48 MB
    /// chunk cost 30 ms of page faults at 20,000 rows).
    /// </summary>
    internal const long BlasChunkElements = 1L << 22;
    /// <summary>
    /// Most rows one float32 product sums over before it is added to its double accumulator on the OpenBLAS path:
    /// consecutive chunks accumulate into the same float32 product (beta = 1) up to this many rows.
    /// </summary>
    internal const int BlasFloatRows = 16384;
    /// <summary>Rows whose column means shift the data on the one-pass OpenBLAS path (all rows when there are fewer).</summary>
    internal const int ShiftRows = 2048;

    /// <summary>||X_p' X_q||_F^2 for each requested pair of in-memory layers (see the overload over <see cref="CkaRows"/>).</summary>
    internal static double[] CrossNormsSquared(IReadOnlyList<Matrix> layers, IReadOnlyList<(int P, int Q)> pairs, bool single,
                                               double[]?[]? rowNormsSquared = null, int chunkRows = 0, int blockCols = SymmetricBlockCols)
    {
        var rows = layers.Select(m => CkaRows.Of(m)).ToArray();
        try { return CrossNormsSquared(rows, pairs, single, rowNormsSquared, chunkRows, blockCols); }
        finally { foreach (var r in rows) r.Dispose(); }
    }

    /// <summary>
    /// ||X_p' X_q||_F^2 for each requested pair (p &lt;= q) of layers, the columns centred (X - 1 mean').
    /// <para>
    /// Each layer is read one chunk of rows at a time (an in-memory array in place, shared with libtorch through
    /// frombuffer and never written; a streamed data set such as a memory-mapped .npy into one reused chunk buffer, on
    /// all cores), twice: once for the column means (sums in double), once for the products. Each chunk is centred
    /// into a reused buffer Z = [X_1 ... X_L] (chunk rows x used columns) by libtorch's multi-threaded copy and add,
    /// so memory beyond the inputs is one chunk plus the accumulated products, no single copy spans more than a chunk,
    /// and a streamed input is never resident as a whole. Sum over chunks:
    /// X_p' X_q = sum_c Z_c,p' Z_c,q. A symmetric product X_p' X_p is formed blockwise like a rank-k update
    /// (syrk): column block b of X_p times the columns of X_p from b on, so only the upper-triangle blocks are
    /// computed and ||X_p' X_p||_F^2 = sum_b ||B_bb||^2 + 2 sum_(b &lt; c) ||B_bc||^2 (about half the flops). For
    /// each block the partners it needs that are adjacent in Z form one product. In float32 each chunk's product (on libtorch)
    /// is added to a double accumulator, or on OpenBLAS's SGEMM when the host has it, consecutive chunks' products are
    /// summed in float32 over at most <see cref="BlasFloatRows"/> rows first; in float64 the products accumulate directly.
    /// </para>
    /// </summary>
    internal static double[] CrossNormsSquared(IReadOnlyList<CkaRows> layers, IReadOnlyList<(int P, int Q)> pairs, bool single,
                                               double[]?[]? rowNormsSquared = null, int chunkRows = 0, int blockCols = SymmetricBlockCols)
    {
        if (pairs.Count == 0) return [];
        int n = layers[0].Rows;
        var used = pairs.SelectMany(pq => new[] { pq.P, pq.Q }).Distinct().OrderBy(i => i).ToArray();
        var offset = new int[layers.Count];
        int total = 0;
        foreach (int i in used) { offset[i] = total; total += layers[i].Cols; }
        bool blas = single && OpenBlas.Available;
        if (chunkRows <= 0)
        {
            // OpenBLAS: the n rows split into equal chunks of at most BlasChunkElements values (at least 2,048 rows, so
            // its threads and the centring threads hand over seldom); libtorch: the chunks it was tuned on.
            int most = blas ? (int)Math.Clamp(BlasChunkElements / total, 2048, BlasFloatRows) : (int)Math.Clamp(ChunkElements / total, 2048, 8192);
            int chunks = (n + most - 1) / most;
            chunkRows = blas ? (n + chunks - 1) / chunks : most;
        }
        chunkRows = Math.Max(1, Math.Min(chunkRows, n));
        blockCols = Math.Max(1, blockCols);

        // The products' plan: on OpenBLAS with SSYRK one job per product; otherwise blocked runs (libtorch's path, or
        // an OpenBLAS without SSYRK). Planned only when needed: each costs JIT compilation at a command's start.
        var jobs = blas && OpenBlas.SymmetricAvailable ? SymmetricJobs(layers, offset, pairs) : null;
        List<Run>? runs = null;
        List<Run> Runs() => runs ??= PlanRuns(layers, pairs, offset, blockCols);
        List<BlasJob> BlasJobs() => jobs ?? Runs().Select(r => new BlasJob(r, false)).ToList();
        bool blasFits = blas && (long)chunkRows * total <= Array.MaxLength && BlasJobs().Max(j => (long)j.Run.BlockLen * j.Run.Width) <= Array.MaxLength;
        if (blasFits && rowNormsSquared == null && jobs != null)
            return BlasProducts(layers, used, offset, total, jobs, null, pairs, n, chunkRows, null);

        // Column means in double, a chunk of rows at a time, on all cores (libtorch's float64 sum over dim 0 of a
        // float32 chunk took about 0.1 s per 8,192 x 1,024 chunk here). A NaN or infinity makes its column's sum non-finite.
        var mean = new double[layers.Count][];
        foreach (int i in used)
        {
            var sum = new double[layers[i].Cols];
            for (int s = 0; s < n; s += chunkRows)
            {
                int c = Math.Min(chunkRows, n - s);
                unsafe { AddColumnSums(layers[i].Read(s, c, chunkRows), c, sum); }
            }
            foreach (var v in sum)
                if (!double.IsFinite(v))
                    throw new ProbeException($"{layers[i].Name} has non-finite values (NaN or infinity, or values too large to sum); refusing to compute CKA from it.");
            for (int j = 0; j < sum.Length; j++) sum[j] /= n;
            mean[i] = sum;
        }
        // The float32 products on the host's OpenBLAS when it loads (faster than libtorch's MKL SGEMM on the AMD
        // machines measured; see OpenBlas), in managed buffers: libtorch is then not even loaded.
        if (blasFits)
            return BlasProducts(layers, used, offset, total, BlasJobs(), mean, pairs, n, chunkRows, rowNormsSquared);
        // The float64 products likewise (small work and the estimators that cancel): loading libtorch alone took
        // about 0.3 s of a small `probe cka`'s 0.4 s.
        if (!single && OpenBlas.DoubleSymmetricAvailable && (long)chunkRows * total <= Array.MaxLength)
        {
            var exact = SymmetricJobs(layers, offset, pairs);
            if (exact.Max(j => (long)j.Run.BlockLen * j.Run.Width) <= Array.MaxLength)
                return BlasDoubleProducts(layers, used, offset, total, exact, mean, pairs.Count, n, chunkRows, rowNormsSquared);
        }
        var plan = Runs();
        long tmpLen = plan.Max(r => (long)r.BlockLen * r.Width);

        using var scope = NewDisposeScope();
        using var one = 1.0.ToScalar();
        var dtype = single ? ScalarType.Float32 : ScalarType.Float64;
        var z = empty(chunkRows, total, dtype);
        var acc = plan.Select(r => zeros(r.BlockLen, r.Width, dtype: ScalarType.Float64)).ToArray();
        Tensor? tmp = single ? empty(tmpLen, dtype: ScalarType.Float32) : null;
        // Same-dtype staging for the float32 -> float64 accumulation (a mixed-dtype in-place add_ failed
        // intermittently inside libtorch under concurrent use).
        Tensor? tmp64 = single ? empty(tmpLen, dtype: ScalarType.Float64) : null;
        for (int s = 0; s < n; s += chunkRows)
        {
            int c = Math.Min(chunkRows, n - s);
            using var inner = NewDisposeScope();
            var zc = z.narrow(0, 0, c);
            unsafe
            {
                fixed (byte* zb = zc.bytes)
                    foreach (int i in used)
                        Centre(layers[i].Read(s, c, chunkRows), c, mean[i], zb, single, total, offset[i], rowNormsSquared?[i], s);
            }
            for (int r = 0; r < plan.Count; r++)
            {
                var run = plan[r];
                var xp = zc.narrow(1, offset[run.P] + run.Block0, run.BlockLen);
                var xq = zc.narrow(1, run.Z0, run.Width);
                if (!single) acc[r].addmm_(xp.t(), xq, beta: 1, alpha: 1);
                else
                {
                    var b = tmp!.narrow(0, 0, (long)run.BlockLen * run.Width).view(run.BlockLen, run.Width);
                    b.addmm_(xp.t(), xq, beta: 0, alpha: 1);
                    var b64 = tmp64!.narrow(0, 0, (long)run.BlockLen * run.Width).view(run.BlockLen, run.Width);
                    b64.copy_(b);
                    acc[r].add_(b64, one);
                }
            }
        }
        var result = new double[pairs.Count];
        for (int r = 0; r < plan.Count; r++)
            foreach (var (col, w, k, weight) in plan[r].Parts)
            {
                using var inner = NewDisposeScope();
                var a = acc[r].narrow(1, col, w);
                result[k] += weight * a.mul(a).sum(type: ScalarType.Float64).item<double>();
            }
        return result;
    }

    /// <summary>
    /// The float32 path of <see cref="CrossNormsSquared(IReadOnlyList{CkaRows}, IReadOnlyList{ValueTuple{int, int}}, bool, double[][], int, int)"/>
    /// on OpenBLAS, in managed buffers. With SSYRK (every OpenBLAS has it) each self product X_p' X_p is one symmetric
    /// rank-k update per chunk (only its upper triangle, as NumPy's X.T @ X does), and each layer's other partners,
    /// adjacent in Z, one SGEMM; without it, the blocked runs (<paramref name="jobs"/>, as the caller planned them).
    /// Consecutive chunks' products sum in float32 (beta = 1) over at most <see cref="BlasFloatRows"/> rows, then are
    /// added to a double accumulator: the float32 sums are no longer than one chunk of that many rows would make them.
    /// </summary>
    /// <remarks>
    /// With <paramref name="mean"/> null the data are read once (the rows' squared norms are not asked for; the first
    /// <see cref="ShiftRows"/> rows twice): each layer is shifted by c, the float32 column means of its first rows,
    /// while its exact column sums accumulate in double as the chunks are centred; at the end every product is
    /// corrected to the exact mean mu, (X - 1 mu')' (Y - 1 nu') = (X - 1 c')' (Y - 1 d')  -  n (mu - c)(nu - d)', all
    /// in double. The shift is the mean of thousands of rows, so mu - c is small and the correction costs no accuracy
    /// (the classic shifted-data algorithm; Chan, Golub and LeVeque 1983); reading each input once instead of twice is
    /// what it saves.
    /// </remarks>
    private static unsafe double[] BlasProducts(IReadOnlyList<CkaRows> layers, int[] used, int[] offset, int total, List<BlasJob> jobs,
                                                double[][]? mean, IReadOnlyList<(int P, int Q)> pairs, int n, int chunkRows, double[]?[]? rowNormsSquared)
    {
        bool onePass = mean == null;
        var z = GC.AllocateUninitializedArray<float>(chunkRows * total, pinned: true);
        // Each job's float32 product sums `group` chunks (at most BlasFloatRows rows) before it is added in double;
        // with one chunk per group every job can share one buffer.
        int group = Math.Max(1, BlasFloatRows / chunkRows);
        float[]? shared = group == 1 ? GC.AllocateUninitializedArray<float>((int)jobs.Max(j => (long)j.Run.BlockLen * j.Run.Width), pinned: true) : null;
        var tmps = jobs.Select(j => shared ?? GC.AllocateUninitializedArray<float>((int)((long)j.Run.BlockLen * j.Run.Width), pinned: true)).ToArray();
        // Uninitialised: the first chunk writes every entry (reading fresh zero pages before writing them cost a second
        // page fault and a TLB flush per page).
        var acc = jobs.Select(j => GC.AllocateUninitializedArray<double>(checked((int)((long)j.Run.BlockLen * j.Run.Width)))).ToArray();
        AdviseHugePages(z, tmps, acc);
        var shift = new double[layers.Count][];
        var sums = new double[layers.Count][];
        if (onePass)
            foreach (int i in used)
            {
                // The shift: the column means of the first rows (at least ShiftRows, so mu - c stays small however
                // small the chunks), rounded to float32 as the centring applies them, kept in double for the correction.
                int m = Math.Min(n, Math.Max(chunkRows, ShiftRows));
                var first = new double[layers[i].Cols];
                AddColumnSums(layers[i].Read(0, m, m), m, first);
                shift[i] = first.Select(v => (double)(float)(v / m)).ToArray();
                sums[i] = new double[layers[i].Cols];
            }
        fixed (float* zf = z)
        {
            int chunk = 0;
            bool added = false;
            for (int s = 0; s < n; s += chunkRows, chunk++)
            {
                int c = Math.Min(chunkRows, n - s);
                float beta = chunk % group == 0 ? 0 : 1;
                bool flush = chunk % group == group - 1 || s + c >= n;
                foreach (int i in used)
                {
                    float* src = layers[i].Read(s, c, chunkRows);
                    // The column sums are taken while the rows are centred (each value read once).
                    Centre(src, c, onePass ? shift[i] : mean![i], (byte*)zf, true, total, offset[i], rowNormsSquared?[i], s, onePass ? sums[i] : null);
                }
                for (int r = 0; r < jobs.Count; r++)
                {
                    var run = jobs[r].Run;
                    // Pinned (allocated so), so its address is fixed.
                    float* tf = (float*)Marshal.UnsafeAddrOfPinnedArrayElement(tmps[r], 0);
                    if (jobs[r].Symmetric)
                    {
                        OpenBlas.SymmetricProduct(run.BlockLen, c, zf + run.Z0, total, tf, run.Width, beta);
                        if (flush) AddUpperTo(acc[r], tf, run.Width, first: !added);
                    }
                    else
                    {
                        OpenBlas.TransposedProduct(run.BlockLen, run.Width, c, zf + offset[run.P] + run.Block0, total, zf + run.Z0, total, tf, run.Width, beta);
                        if (flush) AddTo(acc[r], tf, first: !added);
                    }
                }
                added |= flush;
            }
        }
        double[][]? delta = null;
        if (onePass)
        {
            delta = new double[layers.Count][];
            foreach (int i in used)
            {
                foreach (var v in sums[i])
                    if (!double.IsFinite(v))
                        throw new ProbeException($"{layers[i].Name} has non-finite values (NaN or infinity, or values too large to sum); refusing to compute CKA from it.");
                delta[i] = sums[i].Select((v, j) => v / n - shift[i][j]).ToArray();
            }
        }
        return JobNorms(jobs, acc, layers, used, offset, delta, pairs.Count, n);
    }

    /// <summary>
    /// Every working buffer of the OpenBLAS paths, each written chunk after chunk while it is new to the process, in
    /// transparent huge pages where Linux gives them (<see cref="Native.HugePages"/>; the shared product buffer once).
    /// </summary>
    private static void AdviseHugePages<T>(T[] chunk, T[][] products, double[][] accumulators) where T : unmanaged
    {
        Native.HugePages.Advise(chunk);
        foreach (var p in products.Distinct()) Native.HugePages.Advise(p);
        foreach (var a in accumulators) Native.HugePages.Advise(a);
    }

    /// <summary>
    /// The float64 path on OpenBLAS (<see cref="OpenBlas.DoubleSymmetricAvailable"/>): each chunk centred with the
    /// exact column means in double, each self product X_p' X_p one DSYRK per chunk (its upper triangle) and each
    /// layer's other partners one DGEMM, all accumulating in place (beta = 1) in double.
    /// </summary>
    private static unsafe double[] BlasDoubleProducts(IReadOnlyList<CkaRows> layers, int[] used, int[] offset, int total, List<BlasJob> jobs,
                                                      double[][] mean, int pairCount, int n, int chunkRows, double[]?[]? rowNormsSquared)
    {
        var z = GC.AllocateUninitializedArray<double>(chunkRows * total, pinned: true);
        // Uninitialised: the first chunk's product (beta = 0) writes every entry a job reads.
        var acc = jobs.Select(j => GC.AllocateUninitializedArray<double>(checked((int)((long)j.Run.BlockLen * j.Run.Width)), pinned: true)).ToArray();
        AdviseHugePages<double>(z, [], acc);
        fixed (double* zd = z)
            for (int s = 0; s < n; s += chunkRows)
            {
                int c = Math.Min(chunkRows, n - s);
                foreach (int i in used)
                    Centre(layers[i].Read(s, c, chunkRows), c, mean[i], (byte*)zd, false, total, offset[i], rowNormsSquared?[i], s);
                double beta = s == 0 ? 0 : 1;
                for (int r = 0; r < jobs.Count; r++)
                {
                    var run = jobs[r].Run;
                    double* ad = (double*)Marshal.UnsafeAddrOfPinnedArrayElement(acc[r], 0);
                    if (jobs[r].Symmetric) OpenBlas.SymmetricProduct(run.BlockLen, c, zd + run.Z0, total, ad, run.Width, beta);
                    else OpenBlas.TransposedProduct(run.BlockLen, run.Width, c, zd + offset[run.P] + run.Block0, total, zd + run.Z0, total, ad, run.Width, beta);
                }
            }
        return JobNorms(jobs, acc, layers, used, offset, null, pairCount, n);
    }

    /// <summary>
    /// Each job's squared norms (for a symmetric job from its upper triangle), corrected to the exact means on the way
    /// when the data were shifted by c (<paramref name="delta"/> = mu - c per layer; null when they were centred
    /// exactly), so the accumulators are read once; a fixed split of the rows on all cores whose partial sums are
    /// added in split order, so the result does not depend on timing.
    /// </summary>
    private static unsafe double[] JobNorms(List<BlasJob> jobs, double[][] acc, IReadOnlyList<CkaRows> layers, int[] used, int[] offset,
                                            double[][]? delta, int pairCount, int n)
    {
        bool onePass = delta != null;
        var result = new double[pairCount];
        for (int r = 0; r < jobs.Count; r++)
        {
            var run = jobs[r].Run;
            bool symmetric = jobs[r].Symmetric;
            int w = run.Width;
            // Column z of the job's Z range belongs to layer q at column z - offset[q]; zero without a correction.
            var dz = new double[w];
            var dp = new double[run.BlockLen];
            if (onePass)
            {
                foreach (int q in used)
                    for (int j = 0; j < layers[q].Cols; j++)
                    {
                        int zc = offset[q] + j - run.Z0;
                        if (zc >= 0 && zc < w) dz[zc] = delta![q][j];
                    }
                for (int i = 0; i < dp.Length; i++) dp[i] = n * delta![run.P][run.Block0 + i];
            }
            var a = acc[r];
            foreach (var (col, width, k, weight) in run.Parts)
            {
                int parts = Math.Max(1, Math.Min(Environment.ProcessorCount, run.BlockLen / 64));
                var partial = new double[parts];
                Parallel.For(0, parts, t =>
                {
                    int i0 = symmetric ? UpperSplit(run.BlockLen, t, parts) : (int)((long)run.BlockLen * t / parts);
                    int i1 = symmetric ? UpperSplit(run.BlockLen, t + 1, parts) : (int)((long)run.BlockLen * (t + 1) / parts);
                    double sq = 0;
                    fixed (double* pa = a, pz = dz)
                        for (int i = i0; i < i1; i++)
                        {
                            double* row = pa + (long)i * w;
                            if (symmetric)
                            {
                                // The upper triangle: the diagonal once, each entry above it twice.
                                double v = row[i] - dp[i] * pz[i];
                                sq += v * v + 2 * CorrectedSquares(row + i + 1, pz + i + 1, dp[i], col + width - i - 1);
                            }
                            else sq += CorrectedSquares(row + col, pz + col, dp[i], width);
                        }
                    partial[t] = sq;
                });
                double sum = 0;
                foreach (var v in partial) sum += v;
                result[k] += weight * sum;
            }
        }
        return result;
    }

    /// <summary>
    /// The libtorch path's plan: runs, each column block [b0, b0 + bl) of a layer p times one range of adjacent Z
    /// columns, split into the parts (pair k, columns, weight) whose squared norms it contributes.
    /// </summary>
    private static List<Run> PlanRuns(IReadOnlyList<CkaRows> layers, IReadOnlyList<(int P, int Q)> pairs, int[] offset, int blockCols)
    {
        var runs = new List<Run>();
        foreach (var g in pairs.Select((pq, k) => (pq.P, pq.Q, k)).GroupBy(t => t.P).OrderBy(g => g.Key))
        {
            int p = g.Key, dp = layers[p].Cols;
            for (int b0 = 0; b0 < dp; b0 += blockCols)
            {
                int bl = Math.Min(blockCols, dp - b0);
                // Column ranges in Z, in Z order: the self pair from this block on, other partners whole.
                var ranges = new List<(int Z0, int W, int K, double Weight)>();
                foreach (var (_, q, k) in g.OrderBy(t => offset[t.Q]))
                {
                    if (q == p)
                    {
                        ranges.Add((offset[p] + b0, bl, k, 1));
                        if (b0 + bl < dp) ranges.Add((offset[p] + b0 + bl, dp - b0 - bl, k, 2));
                    }
                    else ranges.Add((offset[q], layers[q].Cols, k, 1));
                }
                Run? current = null;
                foreach (var r in ranges.OrderBy(r => r.Z0))
                {
                    if (current == null || current.Z0 + current.Width != r.Z0)
                    {
                        current = new Run(p, b0, bl, r.Z0);
                        runs.Add(current);
                    }
                    current.Parts.Add(new Part(current.Width, r.W, r.K, r.Weight));
                    current.Width += r.W;
                }
            }
        }
        return runs;
    }

    /// <summary>One product per chunk: a run of <see cref="CrossNormsSquared(IReadOnlyList{CkaRows}, IReadOnlyList{ValueTuple{int, int}}, bool, double[][], int, int)"/>'s plan, or (Symmetric) a whole layer's X_p' X_p by SSYRK.</summary>
    private sealed record BlasJob(Run Run, bool Symmetric);

    /// <summary>For each layer p: X_p' X_p as one symmetric job if (p, p) is asked for, and X_p' times its other partners, adjacent ones merged into one product.</summary>
    private static List<BlasJob> SymmetricJobs(IReadOnlyList<CkaRows> layers, int[] offset, IReadOnlyList<(int P, int Q)> pairs)
    {
        // Plain loops: LINQ's grouping and sorting over value tuples are generic code JIT-compiled at first use
        // (about 10 ms of a command's start here).
        var jobs = new List<BlasJob>();
        var partners = new List<int>();
        for (int p = 0; p < layers.Count; p++)
        {
            int dp = layers[p].Cols;
            partners.Clear();
            for (int k = 0; k < pairs.Count; k++)
            {
                if (pairs[k].P != p) continue;
                if (pairs[k].Q == p)
                {
                    var self = new Run(p, 0, dp, offset[p]) { Width = dp };
                    self.Parts.Add(new Part(0, dp, k, 1));
                    jobs.Add(new BlasJob(self, true));
                }
                else
                {
                    // Kept in Z order (by offset), pairs with equal offsets in their given order.
                    int at = partners.Count;
                    while (at > 0 && offset[pairs[partners[at - 1]].Q] > offset[pairs[k].Q]) at--;
                    partners.Insert(at, k);
                }
            }
            Run? current = null;
            foreach (int k in partners)
            {
                int q = pairs[k].Q;
                if (current == null || current.Z0 + current.Width != offset[q])
                {
                    current = new Run(p, 0, dp, offset[q]);
                    jobs.Add(new BlasJob(current, false));
                }
                current.Parts.Add(new Part(current.Width, layers[q].Cols, k, 1));
                current.Width += layers[q].Cols;
            }
        }
        return jobs;
    }

    /// <summary>sum_j (a_j - f dz_j)^2 over <paramref name="len"/> values (an accumulator row corrected by a rank-one term).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe double CorrectedSquares(double* a, double* dz, double f, int len)
    {
        int j = 0;
        double sq = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vf = Vector256.Create(f);
            var s0 = Vector256<double>.Zero; var s1 = s0;
            for (; j <= len - 8; j += 8)
            {
                var v0 = Vector256.Load(a + j) - vf * Vector256.Load(dz + j);
                var v1 = Vector256.Load(a + j + 4) - vf * Vector256.Load(dz + j + 4);
                s0 += v0 * v0; s1 += v1 * v1;
            }
            sq = Vector256.Sum(s0 + s1);
        }
        for (; j < len; j++) { double v = a[j] - f * dz[j]; sq += v * v; }
        return sq;
    }

    /// <summary>acc += the upper triangle (j &gt;= i) of the n x n row-major float32 tmp, on all cores.</summary>
    private static unsafe void AddUpperTo(double[] acc, float* tmp, int n, bool first = false)
    {
        int parts = Math.Max(1, Math.Min(Environment.ProcessorCount, n / 64));
        // Row i holds n - i entries: split the rows so each part adds about the same number.
        Parallel.For(0, parts, k =>
        {
            int i0 = UpperSplit(n, k, parts), i1 = UpperSplit(n, k + 1, parts);
            for (int i = i0; i < i1; i++) AddRange(acc, tmp, (long)i * n + i, (long)(i + 1) * n, first);
        });
    }

    /// <summary>The first row of part k of parts when the upper-triangle rows of an n x n matrix are split evenly by entry count.</summary>
    private static int UpperSplit(int n, int k, int parts)
    {
        if (k >= parts) return n;
        // Entries in rows [0, i) = i n - i (i - 1) / 2; find the i where that reaches k / parts of n (n + 1) / 2.
        double target = (double)n * (n + 1) / 2 * k / parts;
        double i = ((2.0 * n + 1) - Math.Sqrt((2.0 * n + 1) * (2.0 * n + 1) - 8 * target)) / 2;
        return Math.Clamp((int)i, 0, n);
    }

    /// <summary>Adds the column sums of <paramref name="rows"/> contiguous float32 rows of sums.Length values to <paramref name="sums"/>, in double, on all cores.</summary>
    internal static unsafe void AddColumnSums(float* p, int rows, double[] sums)
    {
        int d = sums.Length;
        if (rows == 0 || d == 0) return;
        int parts = Math.Max(1, Math.Min(Environment.ProcessorCount, d / 64));
        Parallel.For(0, parts, k =>
        {
            int j0 = (int)((long)d * k / parts), j1 = (int)((long)d * (k + 1) / parts);
            var local = new double[j1 - j0];
            ColumnSums(p, rows, d, j0, local);
            for (int j = 0; j < local.Length; j++) sums[j0 + j] += local[j];
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void ColumnSums(float* p, int rows, int d, int j0, double[] local)
    {
        int w = Vector<double>.Count, len = local.Length;
        fixed (double* acc = local)
            for (int i = 0; i < rows; i++)
            {
                float* row = p + (long)i * d + j0;
                int j = 0;
                if (Vector.IsHardwareAccelerated)
                    for (; j <= len - 2 * w; j += 2 * w)
                    {
                        Vector.Widen(Vector.Load(row + j), out var lo, out var hi);
                        Vector.Store(Vector.Load(acc + j) + lo, acc + j);
                        Vector.Store(Vector.Load(acc + j + w) + hi, acc + j + w);
                    }
                for (; j < len; j++) acc[j] += row[j];
            }
    }

    /// <summary>
    /// Writes src - 1 mean' (<paramref name="rows"/> contiguous float32 rows of mean.Length values) into columns
    /// [offset, offset + d) of the first rows of Z (row stride <paramref name="stride"/>; float32: x - (float)mean;
    /// float64: x - mean), on all cores; with <paramref name="norms"/>, also each centred row's squared norm (in
    /// double) at norms[start + i].
    /// </summary>
    internal static unsafe void Centre(float* src, int rows, double[] mean, byte* z, bool single, int stride, int offset, double[]? norms, int start,
                                       double[]? columnSums = null)
    {
        if (rows == 0) return;
        var meanF = single ? mean.Select(v => (float)v).ToArray() : null;
        // With column sums, a split that depends only on the rows (each part's sums are added in part order), so the
        // sums are the same on any number of cores.
        int parts = columnSums == null ? Math.Max(1, Math.Min(Environment.ProcessorCount, rows / 16)) : Math.Clamp(rows / 256, 1, 8);
        var local = columnSums == null ? null : new double[parts][];
        Parallel.For(0, parts, k =>
        {
            int i0 = (int)((long)rows * k / parts), i1 = (int)((long)rows * (k + 1) / parts);
            if (local != null) local[k] = new double[mean.Length];
            fixed (double* cs = local?[k])
                CentreRows(src, i0, i1, mean, meanF, z, stride, offset, norms, start, cs);
        });
        if (local != null)
            foreach (var part in local)
                for (int j = 0; j < part.Length; j++) columnSums![j] += part[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    // Centres rows [i0, i1); with cs (not null), also adds each column's source values to cs[j] (in double).
    private static unsafe void CentreRows(float* src, int i0, int i1, double[] mean, float[]? meanF, byte* z, int stride, int offset, double[]? norms, int start,
                                          double* cs)
    {
        int d = mean.Length;
        for (int i = i0; i < i1; i++)
        {
            float* x = src + (long)i * d;
            double sq = 0;
            if (meanF != null)
            {
                float* t = (float*)z + (long)i * stride + offset;
                int j = 0;
                if (norms == null && Vector.IsHardwareAccelerated)
                    fixed (float* m = meanF)
                    {
                        int w = Vector<float>.Count, h = Vector<double>.Count;
                        if (cs == null)
                            for (; j <= d - w; j += w)
                                Vector.Store(Vector.Load(x + j) - Vector.Load(m + j), t + j);
                        else
                            for (; j <= d - w; j += w)
                            {
                                var v = Vector.Load(x + j);
                                Vector.Store(v - Vector.Load(m + j), t + j);
                                Vector.Widen(v, out var lo, out var hi);
                                Vector.Store(Vector.Load(cs + j) + lo, cs + j);
                                Vector.Store(Vector.Load(cs + j + h) + hi, cs + j + h);
                            }
                    }
                for (; j < d; j++)
                {
                    float v = x[j] - meanF[j]; t[j] = v; sq += (double)v * v;
                    if (cs != null) cs[j] += x[j];
                }
            }
            else
            {
                fixed (double* m = mean)
                    sq = CkaMath.CentreRow(x, m, (double*)z + (long)i * stride + offset, d);
                if (cs != null) for (int j = 0; j < d; j++) cs[j] += x[j];
            }
            if (norms != null) norms[start + i] = sq;
        }
    }

    /// <summary>acc += the first acc.Length values of tmp (float32), on all cores.</summary>
    private static unsafe void AddTo(double[] acc, float* tmp, bool first = false)
    {
        long count = acc.LongLength;
        int parts = (int)Math.Max(1, Math.Min(Environment.ProcessorCount, count / 4096));
        Parallel.For(0, parts, k => AddRange(acc, tmp, count * k / parts, count * (k + 1) / parts, first));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AddRange(double[] acc, float* tmp, long i0, long i1, bool first)
    {
        long i = i0;
        int w = Vector<double>.Count;
        fixed (double* a = acc)
        {
            if (Vector.IsHardwareAccelerated)
                for (; i <= i1 - 2 * w; i += 2 * w)
                {
                    Vector.Widen(Vector.Load(tmp + i), out var lo, out var hi);
                    Vector.Store(first ? lo : Vector.Load(a + i) + lo, a + i);
                    Vector.Store(first ? hi : Vector.Load(a + i + w) + hi, a + i + w);
                }
            if (first) for (; i < i1; i++) a[i] = tmp[i];
            else for (; i < i1; i++) a[i] += tmp[i];
        }
    }

    private sealed class Run(int p, int block0, int blockLen, int z0)
    {
        public int P { get; } = p;
        public int Block0 { get; } = block0;
        public int BlockLen { get; } = blockLen;
        public int Z0 { get; } = z0;
        public int Width { get; set; }
        public List<Part> Parts { get; } = [];
    }

    /// <summary>Columns [Col, Col + W) of a run's product, whose squared norm (times Weight) goes to pair K.</summary>
    private sealed record Part(int Col, int W, int K, double Weight);

    /// <summary>Median of all entries of a square tensor (mean of the two middle values for an even count).</summary>
    internal static double MedianAll(Tensor d)
    {
        using var scope = NewDisposeScope();
        var flat = d.reshape(-1);
        long total = flat.shape[0];
        if (total % 2 == 1) return flat.kthvalue(total / 2 + 1, 0).values.item<double>();
        var lo = flat.kthvalue(total / 2, 0).values.item<double>();
        var hi = flat.kthvalue(total / 2 + 1, 0).values.item<double>();
        return 0.5 * (lo + hi);
    }
}

/// <summary>
/// Reusable buffers that turn a set of layers (same samples) into the rows of a float64 matrix G whose row l is the
/// vectorised centred (biased) or U-centred (unbiased) kernel matrix of layer l, so that G G' holds every pair's
/// HSIC up to one common factor. Sized for the largest batch seen; smaller batches use views.
/// </summary>
internal sealed class GramWorkspace : IDisposable
{
    private readonly int[] _dims;
    private readonly CkaKernel _kernel;
    private readonly double _sigmaFrac;
    private readonly bool _single;
    private int _capacity;
    private Tensor? _g, _g32;
    private Tensor[] _x = [];

    public GramWorkspace(int[] dims, CkaKernel kernel, double sigmaFrac, bool singleGemm)
    {
        _dims = dims; _kernel = kernel; _sigmaFrac = sigmaFrac;
        _single = singleGemm && kernel == CkaKernel.Linear;
    }

    private void Ensure(int n)
    {
        if (n <= _capacity) return;
        DisposeBuffers();
        _capacity = n;
        var gemm = _single ? ScalarType.Float32 : ScalarType.Float64;
        // The buffers outlive the caller's dispose scope (a consumer is called inside ActivationCapture's per-batch
        // scope): detach them so only Dispose frees them.
        _g = empty((long)_dims.Length, (long)n * n, dtype: ScalarType.Float64).DetachFromDisposeScope();
        _g32 = _single ? empty((long)_dims.Length, (long)n * n, dtype: ScalarType.Float32).DetachFromDisposeScope() : null;
        _x = _dims.Select(d => empty(n, d, dtype: gemm).DetachFromDisposeScope()).ToArray();
    }

    /// <summary>
    /// Forms every layer's kernel matrix K_l (same rows in all layers) and returns the L x L row-major matrix of
    /// &lt;U(K_p), U(K_q)&gt; (unbiased: n(n-3) HSIC1) or &lt;H K_p H, H K_q H&gt; (biased), all accumulated in double.
    /// Both come from one product G G' of the stacked raw kernels plus their row sums and diagonals:
    /// &lt;U(K), U(L)&gt; = tr(K~L~) + (1'K~1)(1'L~1)/((n-1)(n-2)) - 2/(n-2) (K~1)'(L~1) (Song et al. 2012), and
    /// &lt;HKH, HLH&gt; = &lt;K, L&gt; - 2/n (K1)'(L1) + (1'K1)(1'L1)/n^2.
    /// </summary>
    public double[] Products(IReadOnlyList<Matrix> layers, IReadOnlyList<string> names, bool unbiased)
    {
        int n = layers[0].Rows;
        Ensure(n);
        int count = layers.Count;
        long nn = (long)n * n;
        using var scope = NewDisposeScope();
        for (int l = 0; l < count; l++)
        {
            var x = _x[l];
            CkaEngine.WriteCentred(layers[l], x);
            var xs = x.narrow(0, 0, n);
            if (_single) _g32![l].narrow(0, 0, nn).view(n, n).addmm_(xs, xs.t(), beta: 0, alpha: 1);
            else
            {
                var k = _g![l].narrow(0, 0, nn).view(n, n);
                k.addmm_(xs, xs.t(), beta: 0, alpha: 1);
                if (_kernel == CkaKernel.Rbf) ToRbf(k, names[l]);
            }
        }
        var g = _g!.narrow(0, 0, count).narrow(1, 0, nn);
        if (_single) g.copy_(_g32!.narrow(0, 0, count).narrow(1, 0, nn));
        var m = mm(g, g.t()).contiguous();
        var k3 = g.view(count, n, n);
        var rows = k3.sum(new long[] { 2 }, type: ScalarType.Float64).contiguous();
        var diag = k3.diagonal(0, 1, 2).contiguous();
        var dot = MemoryMarshal.Cast<byte, double>(m.bytes);
        var r = MemoryMarshal.Cast<byte, double>(rows.bytes);
        var d = MemoryMarshal.Cast<byte, double>(diag.bytes);
        var result = new double[count * count];
        for (int p = 0; p < count; p++)
            for (int q = p; q < count; q++)
            {
                var rp = r.Slice(p * n, n); var rq = r.Slice(q * n, n);
                var dp = d.Slice(p * n, n); var dq = d.Slice(q * n, n);
                double v;
                if (unbiased)
                {
                    // K~ = K with zero diagonal: K~1 = r - d, 1'K~1 = sum(r - d), tr(K~L~) = <K, L> - d'd.
                    double dd = 0, cross = 0, sp = 0, sq = 0;
                    for (int i = 0; i < n; i++)
                    {
                        dd += dp[i] * dq[i];
                        cross += (rp[i] - dp[i]) * (rq[i] - dq[i]);
                        sp += rp[i] - dp[i]; sq += rq[i] - dq[i];
                    }
                    v = dot[p * count + q] - dd + sp * sq / ((double)(n - 1) * (n - 2)) - 2.0 / (n - 2) * cross;
                }
                else
                {
                    double cross = 0, sp = 0, sq = 0;
                    for (int i = 0; i < n; i++) { cross += rp[i] * rq[i]; sp += rp[i]; sq += rq[i]; }
                    v = dot[p * count + q] - 2.0 / n * cross + sp * sq / ((double)n * n);
                }
                result[p * count + q] = result[q * count + p] = v;
            }
        return result;
    }

    private void ToRbf(Tensor k, string name)
    {
        long n = k.shape[0];
        var r = k.diagonal().clone();
        k.mul_(-2).add_(r.unsqueeze(0)).add_(r.unsqueeze(1)).clamp_min_(0);
        k.diagonal().zero_();
        if (!(_sigmaFrac > 0) || !double.IsFinite(_sigmaFrac))
            throw new ProbeException($"The RBF bandwidth fraction must be a positive number, got {_sigmaFrac}.");
        double median = n == 1 ? 0 : CkaEngine.MedianAll(k);
        if (!(median > 0))
            throw new ProbeException($"The median squared distance between samples of {name} is 0 (at least half of the pairs coincide, e.g. a constant layer): the RBF bandwidth is undefined. Use the linear kernel or more varied samples.");
        double s2 = _sigmaFrac * _sigmaFrac * median;
        k.mul_(-1.0 / (2 * s2)).exp_();
    }

    private void DisposeBuffers()
    {
        _g?.Dispose(); _g32?.Dispose();
        foreach (var t in _x) t.Dispose();
        _g = null; _g32 = null; _x = [];
    }

    public void Dispose() => DisposeBuffers();
}
