namespace Probe.Projection;

/// <summary>
/// The t-SNE gradient 4 (exaggeration sum_j p_ij q_ij (y_i - y_j) - sum_j q_ij^2 (y_i - y_j) / Z), q_ij = 1/(1 + d_ij^2),
/// with the repulsion exact or by Barnes-Hut. Every per-point quantity is computed independently in parallel and
/// every global sum is taken sequentially in index order, so results do not depend on scheduling.
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

    /// <summary>Accumulated wall seconds of tree builds and of force passes (diagnostics only).</summary>
    public double TreeSeconds { get; private set; }
    public double ForceSeconds { get; private set; }

    public TsneGradient(TsneAffinities p, TsneMethod method, double theta)
    {
        this.p = p; this.method = method; this.theta = theta;
        int n = p.Samples;
        attr = new double[2 * n]; rep = new double[2 * n]; z = new double[n]; klRow = new double[n];
        foreach (var v in p.Values) if (v > 0) pLogP += v * Math.Log(v);
        if (method == TsneMethod.BarnesHut) tree = new QuadTree(n);
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
    public double Compute(double[] y, double exaggeration, double[] grad, bool wantKl)
    {
        int n = p.Samples;
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        if (method == TsneMethod.BarnesHut) tree!.Build(y);
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        // one parallel pass per iteration: attraction (sparse P) and repulsion for each point, written per point
        ForChunks(n, (s, e) =>
        {
            var stack = method == TsneMethod.BarnesHut ? new int[QuadTree.StackSize] : null;
            for (int t = s; t < e; t++)
            {
                int i = method == TsneMethod.BarnesHut ? tree!.PointAt(t) : t;
                Attraction(y, i, wantKl);
                if (method == TsneMethod.BarnesHut) tree!.Repulsion(t, theta, stack!, out rep[2 * i], out rep[2 * i + 1], out z[i]);
                else ExactRepulsion(y, i, n);
            }
        });
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

    void Attraction(double[] y, int i, bool wantKl)
    {
        var rp = p.RowPointers; var cols = p.Columns; var vals = p.Values;
        double xi = y[2 * i], yi = y[2 * i + 1], fx = 0, fy = 0, lq = 0;
        for (int t = rp[i]; t < rp[i + 1]; t++)
        {
            int j = cols[t];
            double dx = xi - y[2 * j], dy = yi - y[2 * j + 1];
            double q = 1.0 / (1.0 + dx * dx + dy * dy);
            double pq = vals[t] * q;
            fx += pq * dx; fy += pq * dy;
            if (wantKl) lq += vals[t] * Math.Log(q);
        }
        attr[2 * i] = fx; attr[2 * i + 1] = fy; klRow[i] = lq;
    }

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

/// <summary>A quadtree over 2-D points rebuilt each iteration into reused buffers; Barnes-Hut repulsion.</summary>
internal sealed class QuadTree
{
    struct Node
    {
        public double ComX, ComY, Width2;
        public int Count, FirstChild, Start, End;
    }

    const int MaxDepth = 48;
    /// <summary>Cells with at most this many points are leaves, summed exactly (measured: 16 is faster than 1 and more accurate).</summary>
    const int LeafSize = 16;
    Node[] nodes;
    int nodeCount;
    readonly int[] perm, tmp;
    readonly double[] px, py;
    readonly int n;

    public QuadTree(int n)
    {
        this.n = n;
        perm = new int[n]; tmp = new int[n];
        for (int i = 0; i < n; i++) perm[i] = i;
        px = new double[n]; py = new double[n];
        nodes = new Node[Math.Max(16, 4 * n)];
    }

    /// <summary>Rebuilds the tree over the current positions.</summary>
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
        BuildNode(0, y, 0, n, (minX + maxX) * 0.5, (minY + maxY) * 0.5, half, 0);
        for (int t = 0; t < n; t++) { int i = perm[t]; px[t] = y[2 * i]; py[t] = y[2 * i + 1]; }
    }

    void BuildNode(int index, double[] y, int s, int e, double cx, double cy, double half, int depth)
    {
        double sx = 0, sy = 0;
        for (int t = s; t < e; t++) { int i = perm[t]; sx += y[2 * i]; sy += y[2 * i + 1]; }
        int count = e - s;
        var node = new Node
        {
            Count = count, Start = s, End = e, FirstChild = -1, Width2 = 4 * half * half,
            ComX = count > 0 ? sx / count : cx, ComY = count > 0 ? sy / count : cy,
        };
        if (count <= LeafSize || depth >= MaxDepth) { nodes[index] = node; return; }
        // stable counting sort of the range into the four quadrants (0: x<cx,y<cy; 1: x>=cx; 2: y>=cy; 3: both)
        Span<int> bucket = stackalloc int[5];
        bucket.Clear();
        for (int t = s; t < e; t++) { int i = perm[t]; bucket[Quadrant(y, i, cx, cy) + 1]++; }
        for (int q = 0; q < 4; q++) bucket[q + 1] += bucket[q];
        Span<int> pos = stackalloc int[4];
        for (int q = 0; q < 4; q++) pos[q] = s + bucket[q];
        for (int t = s; t < e; t++) { int i = perm[t]; tmp[pos[Quadrant(y, i, cx, cy)]++] = i; }
        Array.Copy(tmp, s, perm, s, count);
        int first = nodeCount;
        if (first + 4 > nodes.Length) Array.Resize(ref nodes, nodes.Length * 2);
        nodeCount += 4;
        node.FirstChild = first;
        nodes[index] = node;
        double h = half * 0.5;
        for (int q = 0; q < 4; q++)
        {
            double ncx = cx + ((q & 1) != 0 ? h : -h), ncy = cy + ((q & 2) != 0 ? h : -h);
            BuildNode(first + q, y, s + bucket[q], s + bucket[q + 1], ncx, ncy, h, depth + 1);
        }
    }

    static int Quadrant(double[] y, int i, double cx, double cy) => (y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0);

    public const int StackSize = 4 * MaxDepth + 8;

    /// <summary>The original index of the point at tree position t.</summary>
    public int PointAt(int t) => perm[t];

    /// <summary>Repulsion on the point at tree position t: sum_j q_ij^2 (y_i - y_j) and sum_j q_ij, cells summarised when width / distance &lt; theta.</summary>
    public void Repulsion(int t, double theta, int[] stack, out double rx, out double ry, out double zOut)
    {
        double theta2 = theta * theta;
        var nd = nodes;
        double xi = px[t], yi = py[t], fx = 0, fy = 0, zi = 0;
        int sp = 0;
        stack[sp++] = 0;
        while (sp > 0)
        {
            ref readonly Node node = ref nd[stack[--sp]];
            bool leaf = node.FirstChild < 0;
            if (node.Count > 1 && (t < node.Start || t >= node.End))
            {
                double ddx = xi - node.ComX, ddy = yi - node.ComY;
                double d2 = ddx * ddx + ddy * ddy;
                if (node.Width2 < theta2 * d2)
                {
                    double q = 1.0 / (1.0 + d2);
                    double cq = node.Count * q;
                    zi += cq; double cq2 = cq * q;
                    fx += cq2 * ddx; fy += cq2 * ddy;
                    continue;
                }
            }
            if (leaf)
            {
                for (int u = node.Start; u < node.End; u++)
                {
                    if (u == t) continue;
                    double dx = xi - px[u], dy = yi - py[u];
                    double q = 1.0 / (1.0 + dx * dx + dy * dy);
                    zi += q; double q2 = q * q;
                    fx += q2 * dx; fy += q2 * dy;
                }
            }
            else
            {
                int f = node.FirstChild;
                for (int c = 0; c < 4; c++) if (nd[f + c].Count > 0) stack[sp++] = f + c;
            }
        }
        rx = fx; ry = fy; zOut = zi;
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
