using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Probe.Projection;

/// <summary>
/// The t-SNE gradient 4 (exaggeration sum_j p_ij q_ij (y_i - y_j) - sum_j q_ij^2 (y_i - y_j) / Z), q_ij = 1/(1 + d_ij^2),
/// with the repulsion exact (double) or by Barnes-Hut (float32 SIMD, see <see cref="QuadTree"/>). Every per-point quantity
/// is computed independently in parallel and every global sum is taken sequentially in index order, so results do not
/// depend on scheduling.
/// </summary>
internal sealed class TsneGradient
{
    const int Chunks = 64;
    readonly TsneAffinities p;
    readonly TsneMethod method;
    readonly double theta;
    readonly double pLogP;
    readonly double[] attr, rep, z, klRow;
    readonly QuadTree? tree;
    readonly TsneFftRepulsion? fft;
    readonly int[] prow, pcol, rank, order;
    readonly float[] pval, yf;
    int calls;
    /// <summary>Barnes-Hut rebuilds the attraction's rows in the tree's point order every this many gradients.</summary>
    const int ReorderEvery = 50;

    /// <summary>Accumulated wall seconds of tree builds and of force passes (diagnostics only).</summary>
    public double TreeSeconds { get; private set; }
    public double ForceSeconds { get; private set; }
    long attractionTicks, repulsionTicks;
    /// <summary>Thread-seconds (summed over workers) of attraction and of Barnes-Hut repulsion (diagnostics only).</summary>
    public double AttractionThreadSeconds => attractionTicks / (double)System.Diagnostics.Stopwatch.Frequency;
    public double RepulsionThreadSeconds => repulsionTicks / (double)System.Diagnostics.Stopwatch.Frequency;

    public TsneGradient(TsneAffinities p, TsneMethod method, double theta)
    {
        this.p = p; this.method = method; this.theta = theta;
        int n = p.Samples;
        attr = new double[2 * n]; rep = new double[2 * n]; z = new double[n]; klRow = new double[n];
        foreach (var v in p.Values) if (v > 0) pLogP += v * Math.Log(v);
        if (method is TsneMethod.BarnesHut or TsneMethod.Fft)
        {
            if (method == TsneMethod.BarnesHut) tree = new QuadTree(n);
            else fft = new TsneFftRepulsion(n);
            prow = new int[n + 1];
            int padded = 0;
            for (int i = 0; i < n; i++) padded += (p.RowPointers[i + 1] - p.RowPointers[i] + 7) / 8 * 8;
            pcol = new int[padded]; pval = new float[padded];
            order = new int[n]; rank = new int[n];
            for (int i = 0; i < n; i++) order[i] = i;
            PadRows();
            yf = new float[2 * n];
        }
        else { prow = pcol = rank = order = []; pval = yf = []; }
    }

    /// <summary>
    /// P's CSR as the float attraction reads it: row r is point order[r]'s row, its entries in P's order (columns
    /// renumbered to rows, so the positions gathered are yf's), padded to a multiple of 8 entries by (the point
    /// itself, value 0). With order the tree's point order, a row's neighbours (mostly close in the embedding) sit
    /// close together in yf and the rows are read in sequence: at 70,000 points the gathers missed the cache when the
    /// rows were in input order. Only the memory layout changes: every row sums the same terms in the same order.
    /// </summary>
    void PadRows()
    {
        int n = p.Samples;
        for (int r = 0; r < n; r++) rank[order[r]] = r;
        for (int r = 0; r < n; r++)
        {
            int i = order[r], o = prow[r];
            for (int t = p.RowPointers[i]; t < p.RowPointers[i + 1]; t++, o++) { pcol[o] = rank[p.Columns[t]]; pval[o] = (float)p.Values[t]; }
            prow[r + 1] = prow[r] + (p.RowPointers[i + 1] - p.RowPointers[i] + 7) / 8 * 8;
            for (; o < prow[r + 1]; o++) { pcol[o] = r; pval[o] = 0; }
        }
    }

    /// <summary>The float positions in row order (yf[2r], yf[2r + 1] = point order[r]).</summary>
    void FillPositions(double[] y)
    {
        for (int r = 0; r < order.Length; r++) { int i = order[r]; yf[2 * r] = (float)y[2 * i]; yf[2 * r + 1] = (float)y[2 * i + 1]; }
    }

    /// <summary>
    /// Attraction on point i in float32, 8 entries of P at a time. The positions are interleaved (x, y) float pairs, so
    /// one 64-bit gather lane brings both coordinates of a neighbour from one cache line (two float gathers from
    /// separate x and y arrays touched two lines per neighbour; the gathers, not the arithmetic, bound this loop at
    /// 70,000 points). Every lane computes what the separate-array form did, in the same order ((1 + dx^2) + dy^2,
    /// p / that, sums over lanes in double in neighbour order), so the result is bit for bit the same.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    unsafe void AttractionFloat(int i)
    {
        int r = rank[i];
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            fixed (float* yp = yf, vp = pval)
            fixed (int* cp = pcol)
            {
                // [x_i, y_i, x_i, y_i, ...]: the point's own pair in every lane pair.
                var pi = Vector256.Create(*(double*)(yp + 2 * r)).AsSingle();
                var one = Vector256<float>.One;
                var lowPairs = Vector256.Create(0, 0, 1, 1, 2, 2, 3, 3);
                var highPairs = Vector256.Create(4, 4, 5, 5, 6, 6, 7, 7);
                Vector256<float> s0 = default, s1 = default;
                for (int t = prow[r], e = prow[r + 1]; t < e; t += 8)
                {
                    var ci = System.Runtime.Intrinsics.X86.Avx.LoadVector256(cp + t);
                    var p8 = System.Runtime.Intrinsics.X86.Avx.LoadVector256(vp + t);
                    // Neighbours t..t+3 and t+4..t+7, each lane pair (dx, dy).
                    var d0 = pi - System.Runtime.Intrinsics.X86.Avx2.GatherVector256((double*)yp, ci.GetLower(), 8).AsSingle();
                    var d1 = pi - System.Runtime.Intrinsics.X86.Avx2.GatherVector256((double*)yp, ci.GetUpper(), 8).AsSingle();
                    var q0 = System.Runtime.Intrinsics.X86.Avx2.PermuteVar8x32(p8, lowPairs) / Denominators(d0, one);
                    var q1 = System.Runtime.Intrinsics.X86.Avx2.PermuteVar8x32(p8, highPairs) / Denominators(d1, one);
                    s0 += q0 * d0; s1 += q1 * d1;
                }
                // Even lanes hold x sums, odd lanes y sums, neighbours 0-3 in s0 and 4-7 in s1: the lane order of a
                // sum over eight neighbour lanes.
                double sx = 0, sy = 0;
                for (int k = 0; k < 4; k++) { sx += s0[2 * k]; sy += s0[2 * k + 1]; }
                for (int k = 0; k < 4; k++) { sx += s1[2 * k]; sy += s1[2 * k + 1]; }
                attr[2 * i] = sx; attr[2 * i + 1] = sy;
                return;
            }
        }
        var cols = pcol; var ys = yf;
        var vx = Vector256.Create(ys[2 * r]); var vy = Vector256.Create(ys[2 * r + 1]); var onef = Vector256<float>.One;
        Vector256<float> ax = default, ay = default;
        for (int t = prow[r], e = prow[r + 1]; t < e; t += 8)
        {
            var c = cols.AsSpan(t, 8);
            var gx = Vector256.Create(ys[2 * c[0]], ys[2 * c[1]], ys[2 * c[2]], ys[2 * c[3]], ys[2 * c[4]], ys[2 * c[5]], ys[2 * c[6]], ys[2 * c[7]]);
            var gy = Vector256.Create(ys[2 * c[0] + 1], ys[2 * c[1] + 1], ys[2 * c[2] + 1], ys[2 * c[3] + 1], ys[2 * c[4] + 1], ys[2 * c[5] + 1], ys[2 * c[6] + 1], ys[2 * c[7] + 1]);
            var dx = vx - gx; var dy = vy - gy;
            var pq = Vector256.Create((ReadOnlySpan<float>)pval.AsSpan(t, 8)) / (onef + dx * dx + dy * dy);
            ax += pq * dx; ay += pq * dy;
        }
        attr[2 * i] = QuadTree.SumLanes(ax); attr[2 * i + 1] = QuadTree.SumLanes(ay);
    }

    /// <summary>For lane pairs (dx, dy): (1 + dx^2) + dy^2 in both lanes of each pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Denominators(Vector256<float> d, Vector256<float> one)
    {
        var sq = d * d;
        // (1 + dx^2) in even lanes, plus dy^2 swapped in from the odd lane; then the even lane copied to the odd one.
        var sum = (one + sq) + System.Runtime.Intrinsics.X86.Avx.Permute(sq, 0b10_11_00_01);
        return System.Runtime.Intrinsics.X86.Avx.Permute(sum, 0b10_10_00_00);
    }

    /// <summary>sum_j p_ij log q_ij over row i of P, in double (for the KL only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    double LogQRow(double[] y, int i)
    {
        var rp = p.RowPointers; var cols = p.Columns; var vals = p.Values;
        double xi = y[2 * i], yi = y[2 * i + 1], lq = 0;
        for (int t = rp[i]; t < rp[i + 1]; t++)
        {
            int j = cols[t];
            double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
            lq -= vals[t] * Math.Log(1.0 + dx * dx + dy * dy);
        }
        return lq;
    }

    static void ForChunks(int n, Action<int, int> body)
    {
        int chunks = Math.Min(Chunks, n);
        Parallel.For(0, chunks, c =>
        {
            int s = (int)((long)n * c / chunks), e = (int)((long)n * (c + 1) / chunks);
            body(s, e);
        });
    }

    /// <summary>Fills <paramref name="grad"/> (2n, interleaved) and returns the KL divergence when asked (else NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public double Compute(double[] y, double exaggeration, double[] grad, bool wantKl)
    {
        int n = p.Samples;
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        if (method == TsneMethod.BarnesHut) tree!.Build(y);
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        if (method == TsneMethod.Fft)
        {
            FillPositions(y);
            long a = System.Diagnostics.Stopwatch.GetTimestamp();
            fft!.Compute(y, rep, z);
            long b = System.Diagnostics.Stopwatch.GetTimestamp();
            repulsionTicks += b - a;
            ForChunks(n, (s, e) =>
            {
                for (int i = s; i < e; i++)
                {
                    AttractionFloat(i);
                    if (wantKl) klRow[i] = LogQRow(y, i);
                }
            });
            attractionTicks += System.Diagnostics.Stopwatch.GetTimestamp() - b;
        }
        else if (method == TsneMethod.BarnesHut)
        {
            if (calls++ % ReorderEvery == 0)
            {
                for (int u = 0; u < n; u++) order[u] = tree!.PointAt(u);
                PadRows();
            }
            FillPositions(y);
            // one parallel pass over groups of points (the tree's leaves): attraction and repulsion, written per point
            var t = tree!;
            ForChunks(t.LeafCount, (s, e) =>
            {
                var work = t.RentWork();
                long ta = 0, tr = 0;
                for (int g = s; g < e; g++)
                {
                    long a = System.Diagnostics.Stopwatch.GetTimestamp();
                    t.GroupRepulsion(g, theta, work, rep, z);
                    long b = System.Diagnostics.Stopwatch.GetTimestamp();
                    var (ps, pe) = t.LeafRange(g);
                    for (int u = ps; u < pe; u++)
                    {
                        int i = t.PointAt(u);
                        AttractionFloat(i);
                        if (wantKl) klRow[i] = LogQRow(y, i);
                    }
                    tr += b - a; ta += System.Diagnostics.Stopwatch.GetTimestamp() - b;
                }
                Interlocked.Add(ref attractionTicks, ta);
                Interlocked.Add(ref repulsionTicks, tr);
                t.ReturnWork(work);
            });
        }
        else
        {
            ForChunks(n, (s, e) =>
            {
                for (int i = s; i < e; i++) { Attraction(y, i, wantKl); ExactRepulsion(y, i, n); }
            });
        }
        long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
        TreeSeconds += (t1 - t0) / (double)System.Diagnostics.Stopwatch.Frequency;
        ForceSeconds += (t2 - t1) / (double)System.Diagnostics.Stopwatch.Frequency;
        double zSum = 0;
        for (int i = 0; i < n; i++) zSum += z[i];
        zSum = Math.Max(zSum, double.Epsilon);
        double inv = 1.0 / zSum;
        for (int c = 0; c < 2 * n; c++) grad[c] = 4.0 * (exaggeration * attr[c] - rep[c] * inv);
        if (!wantKl) return double.NaN;
        double sumPLogQ = 0;
        for (int i = 0; i < n; i++) sumPLogQ += klRow[i];
        return pLogP - sumPLogQ + Math.Log(zSum);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Attraction(double[] y, int i, bool wantKl)
    {
        var rp = p.RowPointers; var cols = p.Columns; var vals = p.Values;
        double xi = y[2 * i], yi = y[2 * i + 1], fx = 0, fy = 0, lq = 0;
        if (wantKl)
        {
            for (int t = rp[i]; t < rp[i + 1]; t++)
            {
                int j = cols[t];
                double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
                double q = 1.0 / (1.0 + dx * dx + dy * dy);
                double pq = vals[t] * q;
                fx += pq * dx; fy += pq * dy;
                lq += vals[t] * Math.Log(q);
            }
        }
        else
        {
            for (int t = rp[i]; t < rp[i + 1]; t++)
            {
                int j = cols[t];
                double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
                double pq = vals[t] / (1.0 + dx * dx + dy * dy);
                fx += pq * dx; fy += pq * dy;
            }
        }
        attr[2 * i] = fx; attr[2 * i + 1] = fy; klRow[i] = lq;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void ExactRepulsion(double[] y, int i, int n)
    {
        double xi = y[2 * i], yi = y[2 * i + 1], fx = 0, fy = 0, zi = 0;
        for (int j = 0; j < n; j++)
        {
            if (j == i) continue;
            double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
            double q = 1.0 / (1.0 + dx * dx + dy * dy);
            zi += q;
            double q2 = q * q;
            fx += q2 * dx; fy += q2 * dy;
        }
        rep[2 * i] = fx; rep[2 * i + 1] = fy; z[i] = zi;
    }
}

/// <summary>
/// A quadtree over 2-D points rebuilt each iteration into reused buffers, for Barnes-Hut repulsion by groups: each leaf
/// (at most <see cref="LeafSize"/> points) walks the tree once and collects an interaction list of cells that satisfy
/// the opening criterion width / distance &lt; theta for EVERY point of the leaf (distance measured from the cell's
/// centre of mass to the leaf's bounding box, so it is never looser than the per-point criterion of van der Maaten
/// 2014) and of single points; then each point of the leaf sums its list with float32 SIMD. The point's own entry
/// (distance 0, q = 1) is included in the sums and its exact contribution (1 to Z, 0 to the force) removed after.
/// </summary>
internal sealed class QuadTree
{
    const int MaxDepth = 48;
    /// <summary>Cells with at most this many points are leaves (= groups).</summary>
    public const int LeafSize = 64;
    // nodes, flat (structure of arrays)
    double[] comX = [], comY = [], width2 = [];
    int[] count = [], firstChild = [], start = [], end = [];
    int nodeCount;
    int[] leaves = [];
    int leafCount;
    readonly int[] perm, tmp;
    readonly float[] px, py;
    readonly int n;
    readonly System.Collections.Concurrent.ConcurrentBag<Work> pool = new();

    /// <summary>Per-thread scratch: the traversal stack and the interaction list (x, y, weight), padded to the SIMD width.</summary>
    internal sealed class Work
    {
        public int[] Stack = new int[4 * MaxDepth + 8];
        public float[] Lx = new float[1024], Ly = new float[1024], Lc = new float[1024];
        public int Length;

        public void Add(float x, float y, float c)
        {
            if (Length == Lx.Length)
            {
                Array.Resize(ref Lx, 2 * Length); Array.Resize(ref Ly, 2 * Length); Array.Resize(ref Lc, 2 * Length);
            }
            Lx[Length] = x; Ly[Length] = y; Lc[Length++] = c;
        }

        /// <summary>Pads with zero-weight entries to a multiple of <paramref name="width"/>.</summary>
        public void Pad(int width)
        {
            while (Length % width != 0) Add(0, 0, 0);
        }
    }

    public QuadTree(int n)
    {
        this.n = n;
        perm = new int[n]; tmp = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        px = new float[n]; py = new float[n];
        EnsureNodes(Math.Max(16, n / 2));
    }

    void EnsureNodes(int size)
    {
        if (comX.Length >= size) return;
        size = Math.Max(size, 2 * comX.Length);
        Array.Resize(ref comX, size); Array.Resize(ref comY, size); Array.Resize(ref width2, size);
        Array.Resize(ref count, size); Array.Resize(ref firstChild, size); Array.Resize(ref start, size); Array.Resize(ref end, size);
    }

    public int LeafCount => leafCount;

    /// <summary>The tree positions [start, end) of the points of leaf g.</summary>
    public (int Start, int End) LeafRange(int g) => (start[leaves[g]], end[leaves[g]]);

    /// <summary>The original index of the point at tree position t.</summary>
    public int PointAt(int t) => perm[t];

    internal Work RentWork() => pool.TryTake(out var w) ? w : new Work();

    internal void ReturnWork(Work w) => pool.Add(w);

    /// <summary>Rebuilds the tree over the current positions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Build(double[] y)
    {
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        for (int i = 0; i < n; i++)
        {
            double a = y[2 * i], b = y[2 * i + 1];
            if (a < minX) minX = a; if (a > maxX) maxX = a;
            if (b < minY) minY = b; if (b > maxY) maxY = b;
        }
        double half = Math.Max(Math.Max(maxX - minX, maxY - minY), 1e-12) * 0.5 * (1 + 1e-6);
        nodeCount = 1;
        leafCount = 0;
        if (leaves.Length < n) leaves = new int[n];
        BuildNode(0, y, 0, n, (minX + maxX) * 0.5, (minY + maxY) * 0.5, half, 0);
        for (int t = 0; t < n; t++) { int i = perm[t]; px[t] = (float)y[2 * i]; py[t] = (float)y[2 * i + 1]; }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void BuildNode(int index, double[] y, int s, int e, double cx, double cy, double half, int depth)
    {
        double sx = 0, sy = 0;
        for (int t = s; t < e; t++) { int i = perm[t]; sx += y[2 * i]; sy += y[2 * i + 1]; }
        int cnt = e - s;
        count[index] = cnt; start[index] = s; end[index] = e; firstChild[index] = -1; width2[index] = 4 * half * half;
        comX[index] = cnt > 0 ? sx / cnt : cx; comY[index] = cnt > 0 ? sy / cnt : cy;
        if (cnt <= LeafSize || depth >= MaxDepth)
        {
            if (cnt > 0) leaves[leafCount++] = index;
            return;
        }
        // stable counting sort of the range into the four quadrants (0: x<cx,y<cy; 1: x>=cx; 2: y>=cy; 3: both)
        Span<int> bucket = stackalloc int[5];
        bucket.Clear();
        for (int t = s; t < e; t++) { int i = perm[t]; bucket[Quadrant(y, i, cx, cy) + 1]++; }
        for (int q = 0; q < 4; q++) bucket[q + 1] += bucket[q];
        Span<int> pos = stackalloc int[4];
        for (int q = 0; q < 4; q++) pos[q] = s + bucket[q];
        for (int t = s; t < e; t++) { int i = perm[t]; tmp[pos[Quadrant(y, i, cx, cy)]++] = i; }
        Array.Copy(tmp, s, perm, s, cnt);
        int first = nodeCount;
        EnsureNodes(first + 4);
        nodeCount += 4;
        firstChild[index] = first;
        double h = half * 0.5;
        for (int q = 0; q < 4; q++)
        {
            double ncx = cx + ((q & 1) != 0 ? h : -h), ncy = cy + ((q & 2) != 0 ? h : -h);
            BuildNode(first + q, y, s + bucket[q], s + bucket[q + 1], ncx, ncy, h, depth + 1);
        }
    }

    static int Quadrant(double[] y, int i, double cx, double cy) => (y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0);

    /// <summary>
    /// Repulsion on every point of leaf g: rep[2i], rep[2i+1] = sum_j q_ij^2 (y_i - y_j) and z[i] = sum_j q_ij (j != i),
    /// cells summarised when width^2 &lt; theta^2 d^2 for the nearest point of the leaf's bounding box.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void GroupRepulsion(int g, double theta, Work w, double[] rep, double[] z)
    {
        int leaf = leaves[g];
        int gs = start[leaf], ge = end[leaf];
        float bx0 = float.MaxValue, by0 = float.MaxValue, bx1 = float.MinValue, by1 = float.MinValue;
        for (int u = gs; u < ge; u++)
        {
            float a = px[u], b = py[u];
            if (a < bx0) bx0 = a; if (a > bx1) bx1 = a;
            if (b < by0) by0 = b; if (b > by1) by1 = b;
        }
        double theta2 = theta * theta;
        w.Length = 0;
        var stack = w.Stack;
        int sp = 0;
        stack[sp++] = 0;
        while (sp > 0)
        {
            int nd = stack[--sp];
            int ns = start[nd], ne = end[nd];
            bool containsGroup = ns <= gs && ge <= ne;
            if (!containsGroup)
            {
                double cx = comX[nd], cy = comY[nd];
                double ddx = cx < bx0 ? bx0 - cx : cx > bx1 ? cx - bx1 : 0;
                double ddy = cy < by0 ? by0 - cy : cy > by1 ? cy - by1 : 0;
                if (width2[nd] < theta2 * (ddx * ddx + ddy * ddy))
                {
                    w.Add((float)cx, (float)cy, count[nd]);
                    continue;
                }
            }
            int f = firstChild[nd];
            if (f < 0)
            {
                for (int u = ns; u < ne; u++) w.Add(px[u], py[u], 1f);
            }
            else
            {
                for (int c = 3; c >= 0; c--) if (count[f + c] > 0) stack[sp++] = f + c;
            }
        }
        w.Pad(Vector<float>.Count);
        var lx = MemoryMarshal.Cast<float, Vector<float>>(w.Lx.AsSpan(0, w.Length));
        var ly = MemoryMarshal.Cast<float, Vector<float>>(w.Ly.AsSpan(0, w.Length));
        var lc = MemoryMarshal.Cast<float, Vector<float>>(w.Lc.AsSpan(0, w.Length));
        for (int u = gs; u < ge; u++)
        {
            Sum(lx, ly, lc, px[u], py[u], out double fx, out double fy, out double zi);
            int i = perm[u];
            rep[2 * i] = fx; rep[2 * i + 1] = fy; z[i] = zi - 1.0; // the point's own entry added exactly 1 to Z
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Sum(ReadOnlySpan<Vector<float>> lx, ReadOnlySpan<Vector<float>> ly, ReadOnlySpan<Vector<float>> lc,
        float xi, float yi, out double fx, out double fy, out double zi)
    {
        var vx = new Vector<float>(xi); var vy = new Vector<float>(yi); var one = Vector<float>.One;
        Vector<float> ax = default, ay = default, az = default;
        for (int k = 0; k < lx.Length; k++)
        {
            var dx = vx - lx[k];
            var dy = vy - ly[k];
            var q = one / (one + dx * dx + dy * dy);
            var cq = lc[k] * q;
            az += cq;
            var w2 = cq * q;
            ax += w2 * dx; ay += w2 * dy;
        }
        fx = SumLanes(ax); fy = SumLanes(ay); zi = SumLanes(az);
    }

    internal static double SumLanes(Vector<float> v)
    {
        double s = 0;
        for (int k = 0; k < Vector<float>.Count; k++) s += v[k];
        return s;
    }

    internal static double SumLanes(Vector256<float> v)
    {
        double s = 0;
        for (int k = 0; k < Vector256<float>.Count; k++) s += v[k];
        return s;
    }
}

/// <summary>KL divergence of a t-SNE embedding against given affinities.</summary>
public static class TsneKl
{
    /// <summary>Exact KL(P || Q) with Q over all n(n-1) pairs (O(n^2); meant for n up to a few thousand).</summary>
    public static double Exact(TsneAffinities p, Matrix embedding)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(embedding);
        if (embedding.Rows != p.Samples || embedding.Cols != 2)
            throw new ProbeException($"The embedding must be {p.Samples} x 2 to match the affinities, got {embedding.Rows} x {embedding.Cols}.");
        embedding.EnsureFinite("The embedding");
        var y = new double[2 * p.Samples];
        for (int i = 0; i < y.Length; i++) y[i] = embedding.Data[i];
        var g = new TsneGradient(p, TsneMethod.Exact, 0);
        return g.Compute(y, 1.0, new double[y.Length], wantKl: true);
    }
}
