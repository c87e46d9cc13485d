#ifndef CS_TIMELINE_H
#define CS_TIMELINE_H
/*
 * timeline: what the runner samples from a server every ~100 ms until it
 * is ready, and the chart of it (drawn by the report's SVG code).
 */
#include <stddef.h>

struct tl_sample {
	double t;             /* seconds from launch */
	double read_bytes;    /* cumulative bytes read by the server's tree */
	double rss_bytes;     /* resident memory of the tree */
	double gpu_bytes;     /* GPU memory of the tree, < 0 when none */
	double cached_bytes;  /* model bytes in the page cache */
	double prefetch_bytes; /* bytes the prefetch has read so far, < 0 when none runs */
};

struct tl_marker {
	const char *label;
	double t;             /* < 0: not drawn */
};

/* The chart: read rates above (the prefetch's among them), memory below
 * (with what the prefetch has read so far, against the weights phase's
 * markers), a dashed line per marker. */
char *rp_timeline_svg(const char *title, const struct tl_sample *s, size_t n, const struct tl_marker *m,
		      size_t nm);

#endif
