/* s3_xml.h — just enough XML to read S3's answers (ListBucketResult,
 * DeleteResult, Error), within the bounds of the buffer it is given.
 *
 * Not a general parser: S3 answers are flat, never nest an element inside
 * one of the same name, and carry text only in leaf elements. Entities
 * (&amp; &lt; &gt; &quot; &apos; &#N; &#xH;) and CDATA sections in text are
 * decoded; anything malformed is refused, never guessed at.
 */
#ifndef FOOTFALL_S3_XML_H
#define FOOTFALL_S3_XML_H

#include <stddef.h>

struct xml_span {
  const char *ptr;
  size_t len;
};

/* Finds the next element `name` in `in` (start tag `<name>`, `<name attr..>`
 * or empty `<name/>`); its content goes to *inner and the rest of `in` after
 * the end tag to *rest (either may be NULL). Returns 1 when found, 0 when
 * not, -1 when the element is not closed within `in`. */
int xml_element(struct xml_span in, const char *name, struct xml_span *inner,
                struct xml_span *rest);

/* Decodes element text into out (out_size bytes, NUL-terminated). Returns the
 * decoded length, or -1 when the text is malformed (a tag inside, a bad or
 * NUL entity) or does not fit. */
long xml_text(struct xml_span text, char *out, size_t out_size);

/* xml_element + xml_text for a leaf; -1 also when absent. */
long xml_child_text(struct xml_span in, const char *name, char *out, size_t out_size);

#endif
