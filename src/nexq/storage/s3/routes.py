"""Each operation's handler: the S3 surface as a table of contents."""

from nexq.storage.s3.handlers import attributes, bucket, listing, multipart, objects, post
from nexq.storage.s3.handlers.common import Handler
from nexq.storage.s3.operations import Operation

HANDLERS: dict[Operation, Handler] = {
    Operation.LIST_BUCKETS: bucket.list_buckets,
    Operation.CREATE_BUCKET: bucket.create_bucket,
    Operation.DELETE_BUCKET: bucket.delete_bucket,
    Operation.HEAD_BUCKET: bucket.head_bucket,
    Operation.GET_BUCKET_LOCATION: bucket.get_bucket_location,
    Operation.GET_BUCKET_VERSIONING: bucket.get_bucket_versioning,
    Operation.GET_BUCKET_ACL: bucket.get_bucket_acl,
    Operation.GET_OBJECT_ACL: bucket.get_object_acl,
    Operation.PUT_BUCKET_ACL: bucket.put_bucket_acl,
    Operation.PUT_OBJECT_ACL: bucket.put_object_acl,
    Operation.LIST_OBJECTS: listing.list_objects,
    Operation.LIST_OBJECTS_V2: listing.list_objects_v2,
    Operation.PUT_OBJECT: objects.put_object,
    Operation.COPY_OBJECT: objects.copy_object,
    Operation.GET_OBJECT: objects.get_object,
    Operation.HEAD_OBJECT: objects.head_object,
    Operation.GET_OBJECT_ATTRIBUTES: attributes.get_object_attributes,
    Operation.DELETE_OBJECT: objects.delete_object,
    Operation.DELETE_OBJECTS: objects.delete_objects,
    Operation.POST_OBJECT: post.post_object,
    Operation.CREATE_MULTIPART_UPLOAD: multipart.create_multipart_upload,
    Operation.UPLOAD_PART: multipart.upload_part,
    Operation.UPLOAD_PART_COPY: multipart.upload_part_copy,
    Operation.COMPLETE_MULTIPART_UPLOAD: multipart.complete_multipart_upload,
    Operation.ABORT_MULTIPART_UPLOAD: multipart.abort_multipart_upload,
    Operation.LIST_PARTS: multipart.list_parts,
    Operation.LIST_MULTIPART_UPLOADS: multipart.list_multipart_uploads,
}
